"""Word-level differences between two texts, for showing two versions side by side.

A text is cut into tokens (runs of word characters, runs of whitespace, single other
characters), the tokens are matched with :mod:`difflib`, and the result is a list of pieces
``(op, text)`` with ``op`` one of ``equal``, ``delete``, ``insert``. The pieces that are not
``insert`` spell the old text; those that are not ``delete`` spell the new one.
"""

from __future__ import annotations

import difflib
import re
from typing import Final, Literal

Op = Literal["equal", "delete", "insert"]
Piece = tuple[Op, str]

_TOKEN: Final = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)
MAX_TOKENS: Final = 20_000  # beyond this, each side is shown as one changed block


def tokens(text: str) -> list[str]:
    """``text`` cut into words, whitespace runs and single punctuation marks (they join to it)."""
    return _TOKEN.findall(text)


def _push(out: list[Piece], op: Op, text: str) -> None:
    if not text:
        return
    if out and out[-1][0] == op:
        out[-1] = (op, out[-1][1] + text)
    else:
        out.append((op, text))


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn ``old`` into ``new``, adjacent pieces of one kind merged.

    Very long texts (more than ``MAX_TOKENS`` tokens on a side) are compared as whole blocks,
    so a page never spends quadratic time on them.
    """
    a, b = tokens(old), tokens(new)
    out: list[Piece] = []
    if old == new:
        _push(out, "equal", old)
        return out
    if len(a) > MAX_TOKENS or len(b) > MAX_TOKENS:
        _push(out, "delete", old)
        _push(out, "insert", new)
        return out
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _push(out, "equal", "".join(a[i1:i2]))
        else:
            _push(out, "delete", "".join(a[i1:i2]))
            _push(out, "insert", "".join(b[j1:j2]))
    return out


def side(pieces: list[Piece], which: Literal["old", "new"]) -> list[Piece]:
    """The pieces shown on one side: the old side drops insertions, the new side deletions."""
    dropped: Op = "insert" if which == "old" else "delete"
    return [piece for piece in pieces if piece[0] != dropped]


def text_of(pieces: list[Piece]) -> str:
    """The text the pieces spell."""
    return "".join(text for _, text in pieces)
