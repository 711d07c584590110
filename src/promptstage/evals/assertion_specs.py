"""Assertion specifications: the ``assertions`` entries of a suite, validated and normalized.

Each entry is ``{type: NAME, ...params}``. ``parse_assertion`` refuses unknown types and keys,
fills defaults (so two spellings digest alike), and checks what can be checked before a run:
regexes compile within their limits, JSON Schemas are valid Draft 2020-12 schemas.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from . import validation as v
from .canary import DEFAULT_THRESHOLD
from .pii import PII_KINDS
from .safe_regex import UnsafePattern, compile_pattern

MAX_VALUE_CHARS = 10_000
MAX_LIST = 200

Check = Callable[[Any, str], Any]


def _str(value: Any, path: str) -> str:
    return v.text(value, path, max_chars=MAX_VALUE_CHARS)


def _bool(value: Any, path: str) -> bool:
    return v.boolean(value, path)


def _threshold(value: Any, path: str) -> float:
    return v.number(value, path, 0.05, 1.0)


def _score(value: Any, path: str) -> float:
    return v.number(value, path, 0.0, 1.0)


def _names(value: Any, path: str) -> list[str]:
    return v.string_list(value, path, max_items=MAX_LIST, max_chars=256)


def _hosts(value: Any, path: str) -> list[str]:
    return [h.lower() for h in v.string_list(value, path, max_items=MAX_LIST, max_chars=253)]


def _kinds(value: Any, path: str) -> list[str]:
    return v.string_list(value, path, max_items=len(PII_KINDS), max_chars=16, choices=PII_KINDS)


def _flags(value: Any, path: str) -> str:
    flags = v.text(value, path, max_chars=4, allow_empty=True)
    if any(f not in "imsx" for f in flags):
        raise v.invalid(path, f"{flags!r} has a flag that is not i, m, s or x", "use i, m, s, x")
    return "".join(sorted(set(flags)))


def _pattern(value: Any, path: str) -> str:
    pattern = _str(value, path)
    try:
        compile_pattern(pattern)
    except UnsafePattern as exc:
        raise v.invalid(path, str(exc), "fix the regular expression") from None
    return pattern


def _schema(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise v.invalid(path, "is not a mapping", "write a JSON Schema (Draft 2020-12) object")
    schema = v.json_value(value, path)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise v.invalid(
            path,
            f"is not a valid JSON Schema at {where}: {exc.message}",
            "fix the schema (Draft 2020-12)",
        ) from None
    return schema  # type: ignore[no-any-return]


def _deny(value: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise v.invalid(
            path, "is not a list of at most 200 rules", "write a list of {tool?, pattern}"
        )
    out = []
    for i, rule in enumerate(value):
        where = f"{path}[{i}]"
        v.mapping(rule, where, ("tool", "pattern", "flags"), ("pattern",))
        out.append(
            {
                "tool": _str(rule["tool"], f"{where}.tool")
                if rule.get("tool") is not None
                else None,
                "pattern": _pattern(rule["pattern"], f"{where}.pattern"),
                "flags": _flags(rule.get("flags", "i"), f"{where}.flags"),
            }
        )
    return out


def _model(value: Any, path: str) -> dict[str, str]:
    v.mapping(value, path, ("provider", "name", "version"), ("provider", "name", "version"))
    return {
        k: v.text(value[k], f"{path}.{k}", max_chars=256) for k in ("provider", "name", "version")
    }


def _max_calls(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise v.invalid(
            path, f"expected a whole number from 0 to 1000, got {value!r}", "use a whole number"
        )
    return value


# type -> {param: (check, default or REQUIRED)}
REQUIRED = object()
PARAMS: dict[str, dict[str, tuple[Check, Any]]] = {
    "contains": {"value": (_str, REQUIRED), "ignore_case": (_bool, False)},
    "not-contains": {"value": (_str, REQUIRED), "ignore_case": (_bool, False)},
    "equals": {
        "value": (v.json_value, REQUIRED),
        "strip": (_bool, True),
        "ignore_case": (_bool, False),
    },
    "regex": {"pattern": (_pattern, REQUIRED), "flags": (_flags, "")},
    "not-regex": {"pattern": (_pattern, REQUIRED), "flags": (_flags, "")},
    "json-valid": {},
    "json-schema": {"schema": (_schema, REQUIRED)},
    "tool-calls": {
        "allowed": (_names, None),
        "check_arguments": (_bool, True),
        "deny": (_deny, []),
        "max_calls": (_max_calls, None),
    },
    "refusal": {},
    "canary-leak": {"value": (_str, "{{canary}}"), "threshold": (_threshold, DEFAULT_THRESHOLD)},
    "leak": {"value": (_str, REQUIRED), "threshold": (_threshold, DEFAULT_THRESHOLD)},
    "no-pii": {"kinds": (_kinds, list(PII_KINDS)), "allow": (_names, [])},
    "no-secrets": {"allow": (_names, [])},
    "no-exfil-links": {"allowed_hosts": (_hosts, []), "bare_urls": (_bool, False)},
    "no-smuggling": {"zero_width": (_bool, False)},
    "llm-judge": {
        "rubric": (_str, REQUIRED),
        "model": (_model, REQUIRED),
        "min_score": (_score, None),
    },
}
ASSERTION_TYPES = tuple(PARAMS)
JUDGE_TYPES = frozenset({"llm-judge"})


@dataclass(frozen=True, slots=True)
class AssertionSpec:
    """One validated assertion: its type and its normalized parameters (defaults filled)."""

    type: str
    params: dict[str, Any]

    @property
    def deterministic(self) -> bool:
        return self.type not in JUDGE_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


def parse_assertion(raw: Any, path: str) -> AssertionSpec:
    """Validate one ``{type, ...}`` entry found at ``path``.

    Raises:
        InvalidInputError: naming ``path.key`` and the fix.
    """
    if not isinstance(raw, dict):
        raise v.invalid(
            path,
            "expected a mapping with a 'type'",
            f"write {{type: one of {list(ASSERTION_TYPES)}, ...}}",
        )
    kind = raw.get("type")
    if kind not in PARAMS:
        raise v.invalid(
            f"{path}.type",
            f"{kind!r} is not an assertion type",
            f"use one of {list(ASSERTION_TYPES)}",
        )
    spec = PARAMS[kind]
    v.mapping(raw, path, ("type", *spec))
    params: dict[str, Any] = {}
    for key, (check, default) in spec.items():
        if key in raw and raw[key] is not None:
            params[key] = check(raw[key], f"{path}.{key}")
        elif default is REQUIRED:
            raise v.invalid(f"{path}.{key}", "is required", f"add '{key}' to this {kind} assertion")
        else:
            params[key] = copy.deepcopy(default)
    return AssertionSpec(kind, params)
