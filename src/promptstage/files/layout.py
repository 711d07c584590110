"""Which file holds which prompt, and the reader and writer of each format.

A prompt ``booking.system`` is ``booking.system.prompt`` (or ``.prompty``) at the top of the
directory; a name with folders, ``support/triage``, is ``support/triage.prompt``. The path
decides the name, so renaming a file is renaming the prompt (which promptstage refuses).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .dotprompt import parse_dotprompt, write_dotprompt
from .prompty import parse_prompty, write_prompty
from .spec import FileFormatError, Parsed, PromptSpec


@dataclass(frozen=True, slots=True)
class Format:
    """One file format: its suffix, reader and writer."""

    name: str
    suffix: str
    parse: Callable[[str, str, str], Parsed]
    write: Callable[[PromptSpec, str], str]


FORMATS = {
    "dotprompt": Format("dotprompt", ".prompt", parse_dotprompt, write_dotprompt),
    "prompty": Format("prompty", ".prompty", parse_prompty, write_prompty),
}
BY_SUFFIX = {f.suffix: f for f in FORMATS.values()}


def path_for(name: str, fmt: Format) -> str:
    """The relative path (``/``-separated) of a prompt's file.

    Raises:
        FileFormatError: a name that would leave the directory (``..``, an absolute path, a
            backslash or an empty folder), so a pull never writes outside it.
    """
    parts = name.split("/")
    if "\\" in name or any(part in ("", ".", "..") for part in parts) or ":" in parts[0]:
        raise FileFormatError(name, "this prompt name cannot be a file path inside the directory")
    return name + fmt.suffix


def format_of(path: str) -> Format | None:
    """The format of a relative path, or ``None`` for a file that is not a prompt."""
    for suffix, fmt in BY_SUFFIX.items():
        if path.endswith(suffix):
            return fmt
    return None


def name_for(path: str) -> str:
    """The prompt name a relative path gives (its suffix removed)."""
    fmt = format_of(path)
    if fmt is None:
        raise FileFormatError(path, "not a .prompt or .prompty file")
    return path[: -len(fmt.suffix)]


def parse_file(text: str, path: str) -> Parsed:
    """Read one prompt file given its text and relative path."""
    fmt = format_of(path)
    if fmt is None:
        raise FileFormatError(path, "not a .prompt or .prompty file")
    return fmt.parse(text, path, name_for(path))


def write_file(spec: PromptSpec, name: str, fmt: Format) -> str:
    """The text of ``name``'s file in ``fmt``; checked to read back as exactly ``spec``.

    Raises:
        FileFormatError: ``fmt`` cannot carry this content exactly.
    """
    path = path_for(name, fmt)
    text = fmt.write(spec, path)
    back = fmt.parse(text, path, name).spec
    if back.digest != spec.digest:
        raise FileFormatError(
            path,
            f"cannot be written as {fmt.name} without changing its meaning; try the other "
            "format (--format)",
        )
    return text
