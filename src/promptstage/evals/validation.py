"""Small validators that name the path of a bad value and the fix (suites and gate policies)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from promptstage.errors import InvalidInputError


def invalid(path: str, problem: str, fix: str) -> InvalidInputError:
    """An ``InvalidInputError`` whose message reads ``path: problem; fix``."""
    return InvalidInputError(f"{path}: {problem}; {fix}", field=path)


def mapping(
    value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()
) -> dict[str, Any]:
    """``value`` as a dict with only ``allowed`` keys and every ``required`` one."""
    allowed = tuple(allowed)
    if not isinstance(value, dict):
        raise invalid(
            path,
            f"expected a mapping, got {type(value).__name__}",
            f"write it as a mapping with keys {list(allowed)}",
        )
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise invalid(
            f"{path}.{unknown[0]}" if path else unknown[0],
            "unknown key",
            f"use only {list(allowed)} (check the spelling)",
        )
    for key in required:
        if key not in value:
            where = f"{path}.{key}" if path else key
            raise invalid(where, "is required", f"add '{key}'")
    return value


def _encodable(value: str, path: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(
            path,
            f"has a lone surrogate at character {exc.start}",
            "write the character itself, not a \\uD8xx escape",
        ) from None
    return value


def text(value: Any, path: str, *, max_chars: int, allow_empty: bool = False) -> str:
    """``value`` as a UTF-8-encodable string of at most ``max_chars`` characters."""
    if not isinstance(value, str):
        raise invalid(path, f"expected a string, got {type(value).__name__}", "quote the value")
    _encodable(value, path)
    if not value and not allow_empty:
        raise invalid(path, "is empty", "write a non-empty string")
    if len(value) > max_chars:
        raise invalid(path, f"is {len(value)} characters long", f"keep it to at most {max_chars}")
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(path, f"expected true or false, got {value!r}", "write true or false")
    return value


def number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise invalid(
            path,
            f"expected a number from {low} to {high}, got {value!r}",
            f"use a number in [{low}, {high}]",
        )
    return float(value)


def string_list(
    value: Any, path: str, *, max_items: int, max_chars: int, choices: Iterable[str] | None = None
) -> list[str]:
    """A list of distinct strings (optionally from ``choices``)."""
    if not isinstance(value, list):
        raise invalid(
            path, f"expected a list, got {type(value).__name__}", "write a list of strings"
        )
    if len(value) > max_items:
        raise invalid(path, f"has {len(value)} items", f"keep it to at most {max_items}")
    options = None if choices is None else tuple(choices)
    out: list[str] = []
    for i, item in enumerate(value):
        item = text(item, f"{path}[{i}]", max_chars=max_chars)
        if options is not None and item not in options:
            raise invalid(
                f"{path}[{i}]", f"{item!r} is not a known value", f"use one of {list(options)}"
            )
        if item in out:
            raise invalid(f"{path}[{i}]", f"{item!r} is listed twice", "remove the duplicate")
        out.append(item)
    return out


def json_value(value: Any, path: str, depth: int = 0) -> Any:
    """``value`` if it is plain JSON (no dates, no NaN, string keys), at most 32 levels deep."""
    if depth > 32:
        raise invalid(path, "is nested more than 32 levels deep", "flatten it")
    if isinstance(value, str):
        return _encodable(value, path)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise invalid(path, "is not a finite number", "use a finite number")
        return value
    if isinstance(value, list):
        return [json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise invalid(path, f"key {key!r} is not a string", "quote the key")
            _encodable(key, path)
        return {k: json_value(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
    raise invalid(
        path,
        f"{type(value).__name__} is not a JSON value",
        "use strings, numbers, booleans, lists and mappings (quote dates)",
    )
