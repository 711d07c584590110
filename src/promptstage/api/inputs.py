"""JSON every store can hold: no NUL characters, no lone UTF-16 surrogates, bounded nesting.

JSON lets a client send ``"\\u0000"`` or an unpaired ``"\\ud800"``; Postgres refuses NUL in text
and neither can be encoded as UTF-8, so such input must be refused as invalid (422) before it
reaches the store, not fail there with a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from promptstage.errors import InvalidInputError

MAX_DEPTH = 64  # JSON nesting; far above any real tool schema, far below recursion limits


def problem_in(text: str) -> str | None:
    """What in ``text`` no store can hold (a NUL, a lone surrogate), or ``None``."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired UTF-16 surrogate (such as \\ud800)"
    return None


def _refuse(field: str, problem: str) -> InvalidInputError:
    return InvalidInputError(
        f"{field or 'the request body'} contains {problem}; send valid Unicode text without NUL characters",
        field=field or None,
    )


def check_json(value: Any, field: str = "", depth: int = 0) -> None:
    """Raise ``InvalidInputError`` naming the first string (or key) inside ``value`` that no
    store can hold, or the first value nested deeper than ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise InvalidInputError(
            f"{field} is nested more than {MAX_DEPTH} levels deep; flatten it", field=field
        )
    if isinstance(value, str):
        problem = problem_in(value)
        if problem:
            raise _refuse(field, problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, field)
            check_json(item, f"{field}.{key}" if field else str(key), depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{field}[{i}]", depth + 1)


async def check_params(request: Request) -> None:
    """A router dependency: path and query parameters must be storable text too."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (problem := problem_in(value)):
            raise _refuse(name, problem)
    for name, value in request.query_params.multi_items():
        problem = problem_in(name) or problem_in(value)
        if problem:
            raise _refuse(name, problem)
