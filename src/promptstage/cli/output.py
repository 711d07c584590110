"""Everything the CLI prints: rich tables and messages for people, exact JSON for machines.

Data goes to stdout, errors and warnings to stderr. Consoles are built per call so they pick up
the current streams and ``COLUMNS``/``NO_COLOR`` (the test runner swaps them per invocation).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 200  # piped output: keep rows on one line for grep/awk, unless COLUMNS says otherwise
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d+Z$")


def console() -> Console:
    """A console on the current stdout (terminal width, or wide when piped)."""
    out = Console(highlight=False)
    if not out.is_terminal and not os.environ.get("COLUMNS"):
        out.width = PIPE_WIDTH
    return out


def err_console() -> Console:
    """A console on the current stderr."""
    return Console(stderr=True, highlight=False)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print ``error: <message>`` as one red line on stderr and exit with ``exit_code``."""
    err_console().print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    raise typer.Exit(exit_code)


def warn(message: str) -> None:
    """Print ``message`` as one yellow line on stderr."""
    err_console().print(Text(message, style="yellow"), soft_wrap=True)


def say(message: str, style: str | None = None) -> None:
    """Print one plain line (no markup interpretation) on stdout."""
    console().print(Text(message, style=style or ""), soft_wrap=True)


def print_json(document: Any) -> None:
    """Print ``document`` as one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_messages(rendered: Any) -> None:
    """Print a template or its rendering: a string, or ``[role]`` blocks for chat."""
    out = console()
    if isinstance(rendered, list):
        for message in rendered:
            role = message.get("role") if isinstance(message, dict) else "?"
            content = message.get("content") if isinstance(message, dict) else message
            out.print(Text(f"[{role}]", style="cyan"))
            out.print(Text(str(content)), soft_wrap=True)
    else:
        out.print(Text(str(rendered)), soft_wrap=True)


def cell(value: Any) -> str:
    """A table cell: ``-`` for nothing, compact JSON for structures."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = str(value)
    matched = _TIMESTAMP.match(text)  # timestamps to the second read better in a table
    return f"{matched.group(1)}Z" if matched else text


def short_digest(digest: str | None) -> str:
    """``sha256:`` plus the first 12 hex digits, enough to tell versions apart."""
    if not digest:
        return "-"
    algo, _, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if hexdigest else digest[:19]


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
) -> None:
    """Print an optional bold title, then a table with one row per item (``(none)`` if empty)."""
    grid = Table(*columns, header_style="bold")
    for column in grid.columns:
        column.overflow = "fold"  # never hide part of a value people copy (prefixes, digests)
        column.min_width = len(str(column.header))
    count = 0
    for row in rows:
        grid.add_row(*(Text(cell(v)) for v in row))
        count += 1
    if title:
        say(title, style="bold")
    if count == 0:
        say("(none)", style="dim")
        return
    console().print(grid)


def fields(pairs: Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """Print ``name  value`` lines, names aligned, values never wrapped or truncated."""
    items = [(name, cell(value)) for name, value in pairs]
    width = max((len(name) for name, _ in items), default=0)
    if title:
        say(title, style="bold")
    out = console()
    for name, value in items:
        out.print(Text.assemble((name.ljust(width), "bold"), "  ", value), soft_wrap=True)


def more(next_cursor: str | None) -> None:
    """Tell how to fetch the next page, when there is one."""
    if next_cursor:
        say(f"more results: repeat with --cursor {next_cursor}", style="dim")
