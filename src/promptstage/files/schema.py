"""Declared variables as Picoschema (Dotprompt's ``input.schema``) and as JSON Schema."""

from __future__ import annotations

import re
from typing import Any

from .spec import FileFormatError

SCALARS = ("string", "number", "integer", "boolean")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\?)?(?:\(([^)]*)\))?")


def to_picoschema(variables: list[dict[str, Any]]) -> dict[str, Any]:
    """``{name: type}`` with ``name?`` for optional, ``any`` for untyped, ``(object)``/``(array)``."""
    schema: dict[str, Any] = {}
    for var in variables:
        key = var["name"] + ("" if var["required"] else "?")
        kind = var["type"]
        if kind == "object":
            schema[f"{key}(object)"] = {"(*)": "any"}
        elif kind == "array":
            schema[f"{key}(array)"] = "any"
        else:
            schema[key] = kind or "any"
    return schema


def from_schema(source: str, schema: Any, where: str) -> list[dict[str, Any]]:
    """Variables from Picoschema or a JSON Schema object (descriptions are not kept)."""
    if not isinstance(schema, dict):
        raise FileFormatError(source, f"{where} must be a mapping of variable: type")
    if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        required = schema.get("required") or []
        out = []
        for name, prop in schema["properties"].items():
            typed = prop.get("type") if isinstance(prop, dict) else None
            out.append(_variable(source, where, str(name), typed, name in required))
        return out
    variables = []
    for key, value in schema.items():
        match = _KEY.fullmatch(str(key))
        if not match:
            raise FileFormatError(
                source, f"{where}: {key!r} is not 'name', 'name?' or 'name(object|array)'"
            )
        name, optional, paren = match.groups()
        kind: Any
        if paren is not None:
            kind = paren.split(",", 1)[0].strip()
            if kind not in ("object", "array"):
                raise FileFormatError(
                    source, f"{where}.{key}: the type in parentheses must be object or array"
                )
        elif isinstance(value, dict):
            kind = "object"
        elif isinstance(value, str):
            kind = value.split(",", 1)[0].strip()
        else:
            raise FileFormatError(source, f"{where}.{key} must be a type such as string")
        variables.append(_variable(source, where, name, kind, optional is None))
    return variables


def _variable(source: str, where: str, name: str, kind: Any, required: bool) -> dict[str, Any]:
    """One declared variable; ``any`` (or no type) is untyped."""
    if kind in (None, "any"):
        kind = None
    elif kind not in (*SCALARS, "object", "array"):
        raise FileFormatError(
            source,
            f"{where}.{name}: type {kind!r} is not supported; use string, number, integer, "
            "boolean, object, array or any",
        )
    return {"name": name, "type": kind, "required": required}
