"""User-written regular expressions, run safely.

Patterns are compiled with the ``regex`` module (a drop-in superset of ``re`` whose matcher
takes a ``timeout``), with a length limit on the pattern and on the text searched. A pattern
that backtracks catastrophically is stopped after ``TIMEOUT_SECONDS`` and the assertion fails
closed with ``error=True``; it is never a pass and never a hung grader.
"""

from __future__ import annotations

from typing import Any

import regex

MAX_PATTERN_CHARS = 1_000
MAX_TEXT_CHARS = 200_000
TIMEOUT_SECONDS = 0.25
FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL, "x": regex.VERBOSE}


class UnsafePattern(ValueError):
    """The pattern is too long, does not compile, or timed out."""


def compile_pattern(pattern: str, flags: str = "") -> Any:
    """Compile ``pattern`` with flags from ``imsx``; raise ``UnsafePattern`` naming the problem."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(
            f"the pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}"
        )
    value = regex.VERSION0
    for flag in flags:
        if flag not in FLAGS:
            raise UnsafePattern(f"flag {flag!r} is not one of {''.join(FLAGS)}")
        value |= FLAGS[flag]
    try:
        return regex.compile(pattern, value)
    except regex.error as exc:
        raise UnsafePattern(f"the pattern does not compile: {exc}") from None


def search(compiled: Any, text: str, timeout: float = TIMEOUT_SECONDS) -> Any:
    """The first match of ``compiled`` in ``text`` (bounded), or ``None``.

    Raises:
        UnsafePattern: when matching takes longer than ``timeout`` seconds.
    """
    try:
        return compiled.search(text[:MAX_TEXT_CHARS], timeout=timeout)
    except TimeoutError:
        raise UnsafePattern(
            f"matching took longer than {timeout} s (catastrophic backtracking?); "
            "simplify the pattern: avoid nested quantifiers such as (a+)+"
        ) from None
