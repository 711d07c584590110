"""Targeting rules: validate react-querybuilder rule groups and compile them to fast matchers.

A release may restrict who is eligible for its candidate with a react-querybuilder rule group::

    {"combinator": "and" | "or", "not": false,
     "rules": [{"field": "country", "operator": "in", "value": ["FR", "BE"]},
               {"combinator": "or", "rules": [...]}]}

:func:`validate_rules` runs when a release is created and returns the normalized group (or raises
:class:`~promptstage.errors.InvalidInputError` naming the path, e.g.
``targeting.rules[1].operator``). :func:`compile_rules` turns a group into a closure that the hot
path calls with the request context; nothing is parsed or looked up per call beyond the context.

Semantics (identical in the server and the SDK):

* **Context values** are strings (HTTP query parameters) or JSON scalars (SDK). ``None`` and a
  missing key are the same thing. Lists, dicts and other objects are *present* but match no
  comparison operator (only ``notNull``).
* **Missing field**: ``null`` is true, ``notNull`` is false and every other operator is false,
  including ``!=`` and ``notIn`` (an absent country is not "not FR"; add ``null`` in an ``or`` to
  include it).
* **Text form**: a value is compared through its text form: strings as they are, booleans as
  ``true``/``false``, integers in decimal, integral floats below 2**53 as integers (``5.0`` ->
  ``"5"``), other floats as Python ``repr`` (``2.5``, ``1e+20``). Comparisons are case-sensitive.
* ``=`` / ``!=`` / ``in`` / ``notIn`` compare text forms, so ``"5"`` equals ``5`` and ``true``
  equals ``"true"``, but ``"5.0"`` does not equal ``"5"`` (use ``between`` for numeric ranges).
* ``<``, ``>``, ``<=``, ``>=`` and ``between`` compare numerically when both sides are numbers
  (JSON numbers, or strings written as decimal numbers: optional sign, digits, optional fraction
  and exponent; no spaces, ``_``, ``inf`` or ``nan``), else by text form, code point by code
  point (so ``"abc" >= 10`` is true: write rules on attributes that are numbers).
  ``between`` is inclusive at both ends and accepts its bounds in either order.
* ``contains``, ``beginsWith``, ``endsWith`` are substring tests on the text form.
* ``not: true`` negates its group. A root group with no rules matches everything; nested empty
  groups are dropped at validation (react-querybuilder's formatters omit them too), so they
  neither match nor block anything, whatever their ``not``.

Accepted value shapes: ``in``/``notIn`` take a non-empty list of scalars or a comma-separated
string (``\\,`` escapes a comma; blanks dropped; items trimmed) and ``between`` takes exactly two
values the same way; ``null``/``notNull`` ignore their value (normalized to ``None``).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, Final

from promptstage.errors import InvalidInputError
from promptstage.rollout.matching import ORDERING, Matcher, compile_group

__all__ = ["MAX_DEPTH", "MAX_RULES", "OPERATORS", "Matcher", "compile_rules", "validate_rules"]

MAX_DEPTH: Final = 8
"""Deepest allowed nesting; the root group is level 1."""

MAX_RULES: Final = 100
"""Most rules and nested groups allowed in one rule group, counted together."""

_TEXT_OPS = ("contains", "beginsWith", "endsWith")
OPERATORS: Final = frozenset(
    {"=", "!=", *ORDERING, "in", "notIn", *_TEXT_OPS, "null", "notNull", "between"}
)
_OPERATOR_LIST = ", ".join(sorted(OPERATORS))
_GROUP_KEYS = frozenset({"combinator", "not", "rules", "id"})
_RULE_KEYS = frozenset({"field", "operator", "value", "id", "valueSource"})


# --- validation ----------------------------------------------------------------------------


def _fail(path: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: {message}", field=path)


def validate_rules(
    obj: object, *, fields: Collection[str] | None = None, path: str = "targeting"
) -> dict[str, Any]:
    """Check a react-querybuilder rule group and return it normalized.

    The result holds only ``combinator`` (lower case), ``not`` and ``rules``; rules hold only
    ``field``, ``operator`` and ``value`` (list values for ``in``/``notIn``/``between``, ``None``
    for ``null``/``notNull``). ``id`` keys are dropped and empty nested groups removed.
    Validating a normalized group returns an equal group.

    Args:
        obj: Decoded JSON, typically a request body's ``targeting``.
        fields: The allowed context attribute names; ``None`` allows any name.
        path: How the root is named in error messages and ``field``.

    Returns:
        The normalized rule group.

    Raises:
        InvalidInputError: On any problem, with ``field`` set to the offending path such as
            ``targeting.rules[1].operator``, and a message saying how to fix it.
    """
    counter = [0]
    return _validate_group(obj, path, 1, fields, counter)


def _validate_group(
    obj: object, path: str, depth: int, fields: Collection[str] | None, counter: list[int]
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(path, 'must be a rule group object {"combinator": "and"|"or", "rules": [...]}')
    if depth > MAX_DEPTH:
        raise _fail(path, f"rule groups nest deeper than {MAX_DEPTH} levels; flatten the rules")
    for key in obj:
        if key not in _GROUP_KEYS:
            raise _fail(
                f"{path}.{key}", "unknown key in a rule group; allowed: combinator, not, rules"
            )
    combinator = obj.get("combinator")
    if not isinstance(combinator, str) or combinator.lower() not in ("and", "or"):
        raise _fail(f"{path}.combinator", 'must be "and" or "or"')
    negate = obj.get("not", False)
    if not isinstance(negate, bool):
        raise _fail(f"{path}.not", "must be true or false")
    items = obj.get("rules")
    if not isinstance(items, list):
        raise _fail(f"{path}.rules", "must be a list of rules and rule groups")
    rules: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        item_path = f"{path}.rules[{index}]"
        counter[0] += 1
        if counter[0] > MAX_RULES:
            raise _fail(
                item_path, f"more than {MAX_RULES} rules and groups; simplify the targeting"
            )
        if isinstance(item, dict) and "rules" in item:
            group = _validate_group(item, item_path, depth + 1, fields, counter)
            if group["rules"]:
                rules.append(group)
        elif isinstance(item, dict):
            rules.append(_validate_rule(item, item_path, fields))
        elif isinstance(item, str):
            raise _fail(
                item_path,
                'independent combinators are not supported; set the group\'s "combinator"',
            )
        else:
            raise _fail(item_path, 'must be a rule {"field", "operator", "value"} or a rule group')
    return {"combinator": combinator.lower(), "not": negate, "rules": rules}


def _validate_rule(
    obj: dict[str, Any], path: str, fields: Collection[str] | None
) -> dict[str, Any]:
    for key in obj:
        if key not in _RULE_KEYS:
            raise _fail(f"{path}.{key}", "unknown key in a rule; allowed: field, operator, value")
    field = obj.get("field")
    if not isinstance(field, str) or not field:
        raise _fail(f"{path}.field", "must be a non-empty attribute name")
    if fields is not None and field not in fields:
        allowed = ", ".join(sorted(fields)) or "(none)"
        raise _fail(f"{path}.field", f"unknown field {field!r}; use one of: {allowed}")
    op = obj.get("operator")
    if not isinstance(op, str) or op not in OPERATORS:
        raise _fail(f"{path}.operator", f"unknown operator {op!r}; use one of: {_OPERATOR_LIST}")
    if obj.get("valueSource", "value") != "value":
        raise _fail(
            f"{path}.valueSource", 'only "value" is supported; compare with a literal value'
        )
    value = _validate_value(op, obj.get("value"), f"{path}.value")
    return {"field": field, "operator": op, "value": value}


def _scalar(value: object, path: str, *, ordered: bool) -> str | int | float | bool:
    """Check one rule value: a string, a finite number, or (unless ``ordered``) a boolean."""
    if isinstance(value, bool):
        if ordered:
            raise _fail(path, "must be a number or a string, not a boolean")
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(path, "must be a finite number")
        return value
    raise _fail(path, "must be a string, a number or a boolean")


def _split(text: str) -> list[str]:
    """Split like react-querybuilder's toArray: ``,`` separates, ``\\,`` escapes, blanks dropped."""
    parts = [chunk.split(",") for chunk in text.split("\\,")]
    items = parts[0]
    for chunk in parts[1:]:
        items[-1] = f"{items[-1]},{chunk[0]}"
        items.extend(chunk[1:])
    return [item.strip() for item in items if item.strip()]


def _values(value: object, path: str, *, ordered: bool) -> list[str | int | float | bool]:
    if isinstance(value, str):
        return list(_split(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [_scalar(value, path, ordered=ordered)]
    if not isinstance(value, list):
        raise _fail(path, 'must be a list of values or a comma-separated string like "a,b"')
    return [
        _scalar(item.strip() if isinstance(item, str) else item, f"{path}[{i}]", ordered=ordered)
        for i, item in enumerate(value)
    ]


def _validate_value(op: str, value: object, path: str) -> Any:
    if op in ("null", "notNull"):
        return None
    if op in ("in", "notIn"):
        values = _values(value, path, ordered=False)
        if not values:
            raise _fail(path, f"{op} needs at least one value")
        return values
    if op == "between":
        values = _values(value, path, ordered=True)
        if len(values) != 2:
            raise _fail(path, 'between needs exactly two values: [low, high] or "low,high"')
        return values
    if isinstance(value, list | dict) or value is None:
        raise _fail(path, f"{op} needs a single value (a string or a number)")
    scalar = _scalar(value, path, ordered=op not in ("=", "!="))
    if scalar == "" and op not in ("=", "!="):
        raise _fail(path, f"{op} needs a non-empty value")
    return scalar


# --- compilation ---------------------------------------------------------------------------


def compile_rules(
    obj: object, *, fields: Collection[str] | None = None, path: str = "targeting"
) -> Matcher:
    """Validate a rule group and compile it into a matcher.

    Args:
        obj: A rule group (raw or already normalized by :func:`validate_rules`).
        fields: The allowed context attribute names; ``None`` allows any name.
        path: How the root is named in error messages and ``field``.

    Returns:
        ``matcher(context) -> bool``; it never raises on any mapping of str to values.

    Raises:
        InvalidInputError: When the rule group is invalid (see :func:`validate_rules`).
    """
    return compile_group(validate_rules(obj, fields=fields, path=path))
