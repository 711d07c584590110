"""What the CLI shows of the evaluation gate: the override option, a version's gate status and
the static check warnings of a version write (docs/evals.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .output import fail, say, table

OverrideGate = Annotated[
    str | None,
    typer.Option(
        "--override-gate",
        metavar="REASON",
        help="Admins only: promote although the evaluation gate refuses the version "
        "(break-glass; audited as gate.override with the verdicts it overrides).",
    ),
]


def json_option(value: str, name: str) -> Any:
    """Parse a JSON option, or ``@file`` holding JSON (``null`` is a value: the default)."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{name}: cannot read {value[1:]!r} ({exc.strerror})")
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{name}: not valid JSON ({exc}); pass a JSON value or @file.json")


def override_body(reason: str | None) -> dict[str, Any]:
    """The ``override_gate`` member of a label move or release start body, if asked for."""
    return {} if reason is None else {"override_gate": {"reason": reason}}


def say_warnings(version: dict[str, Any]) -> None:
    """Print the static check warnings a version write answered with, one line each."""
    for w in version.get("warnings") or []:
        where = w.get("field", "?")
        if w.get("line") is not None:
            where += f" line {w['line']} column {w['column']}"
        say(f"warning ({w.get('kind')}): {where}: {w.get('message')}", style="yellow")


def say_gate(version: dict[str, Any]) -> None:
    """Print a version's gate status per gated label (``GET .../versions/N``'s ``gate``)."""
    gate = version.get("gate")
    if gate is None:
        say("evaluation gate: off on this server", style="yellow")
        return
    if not gate:
        say("evaluation gate: no gated label", style="dim")
        return
    rows = []
    for label, status in sorted(gate.items()):
        verdict = "pass" if status.get("allowed") else "BLOCKED"
        rows.append((label, verdict, "; ".join(status.get("reasons") or [])))
        for o in status.get("overrides") or []:
            rows.append(
                (label, "overridden", f"by {o.get('actor')} at {o.get('at')}: {o.get('reason')}")
            )
    table(["label", "gate", "why"], rows, title="evaluation gate")
