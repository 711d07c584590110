"""Invisible-instruction smuggling: Unicode tag characters and bidirectional controls.

Tag characters (U+E0000-U+E007F) mirror ASCII invisibly: ``U+E0041`` is an invisible ``A``,
so a whole instruction can hide in a string that looks empty. Bidi controls (U+202A-U+202E,
U+2066-U+2069, U+200E, U+200F, U+061C) reorder what a reader sees ("Trojan Source").
Zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are reported as their own kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"]
)
ZERO_WIDTH = frozenset(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])


@dataclass(frozen=True, slots=True)
class Smuggled:
    """A run of hidden characters: kind (``tag``, ``bidi``, ``zero-width``), span, and for
    tags the ASCII they spell."""

    kind: str
    start: int
    end: int
    decoded: str


def _kind(ch: str) -> str | None:
    if 0xE0000 <= ord(ch) <= 0xE007F:
        return "tag"
    if ch in BIDI_CONTROLS:
        return "bidi"
    if ch in ZERO_WIDTH:
        return "zero-width"
    return None


def find_smuggling(text: str, *, zero_width: bool = False) -> Iterator[Smuggled]:
    """Each run of consecutive hidden characters of one kind in ``text``."""
    i, n = 0, len(text)
    while i < n:
        kind = _kind(text[i])
        if kind is None or (kind == "zero-width" and not zero_width):
            i += 1
            continue
        j = i
        while j < n and _kind(text[j]) == kind:
            j += 1
        decoded = ""
        if kind == "tag":
            decoded = "".join(
                chr(ord(c) - 0xE0000) if 0x20 <= ord(c) - 0xE0000 < 0x7F else "" for c in text[i:j]
            )
        yield Smuggled(kind, i, j, decoded)
        i = j


def tag_encode(text: str) -> str:
    """``text`` (ASCII) written in invisible tag characters; for tests and probes."""
    return "".join(chr(0xE0000 + ord(c)) for c in text if 0x20 <= ord(c) < 0x7F)
