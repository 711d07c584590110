"""Compile normalized targeting rule groups into closures for the hot path.

:func:`promptstage.rollout.targeting.compile_rules` validates, then calls :func:`compile_group`.
Each rule becomes one small closure holding its field name and pre-converted value, and groups
are specialized for one, two or more members, so matching a context does no parsing of the rules,
no dict building and no generator allocation. The semantics are documented in
:mod:`promptstage.rollout.targeting`.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["ORDERING", "Matcher", "compile_group", "match_all", "number_form", "text_form"]

Matcher = Callable[[Mapping[str, Any]], bool]
"""A compiled rule group: ``matcher(context) -> bool``."""

ORDERING: Final = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}

_EXACT = 2.0**53  # integral floats below this print as integers (5.0 -> "5")
# Group 1 is set when the text is an integer (parsed exactly with int()).
_NUMBER = re.compile(r"([+-]?\d+)|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def text_form(value: object) -> str | None:
    """Return the text form that ``=``, ``in``, ``contains``... compare.

    Args:
        value: A rule value or a context value.

    Returns:
        Strings as they are, ``"true"``/``"false"``, integers in decimal, integral floats below
        2**53 as integers, other floats as ``repr``; ``None`` for ``None`` and non-scalars.
    """
    if isinstance(value, str):
        return value if value.__class__ is str else str.__str__(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value.is_integer() and -_EXACT < value < _EXACT:
            return int.__repr__(int(value))
        return float.__repr__(value)
    return None


def number_form(value: object) -> int | float | None:
    """Return the number that ``<``, ``between``... compare, if the value is one.

    Args:
        value: A rule value or a context value.

    Returns:
        The int or float for JSON numbers (not booleans, not NaN) and for strings written as
        ASCII decimal numbers (integers are parsed exactly); ``None`` otherwise.
    """
    if isinstance(value, str):
        if value.isascii() and value.isdigit():  # the common case: "25"
            return int(value)
        match = _NUMBER.fullmatch(value)
        if match is None:
            return None
        return int(value) if match.group(1) is not None else float(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if value == value else None  # NaN is not a number here
    return None


def match_all(context: Mapping[str, Any]) -> bool:
    """Match every context: the matcher of a group without rules."""
    return True


def compile_group(group: dict[str, Any]) -> Matcher:
    """Compile a rule group into a matcher.

    Args:
        group: A group normalized by
            :func:`~promptstage.rollout.targeting.validate_rules`; anything else may misbehave.

    Returns:
        ``matcher(context) -> bool``, which never raises on a mapping of str to values.
    """
    parts = tuple(
        compile_group(item) if "rules" in item else _compile_rule(item) for item in group["rules"]
    )
    if not parts:
        return match_all  # an empty group matches everything, even when negated
    matcher: Matcher
    if len(parts) > 1 and any(_FUSED.get(r.get("operator", "")) for r in group["rules"]):
        matcher = _fuse(group["rules"], parts, group["combinator"] == "and")
    elif len(parts) == 1:
        matcher = parts[0]
    elif group["combinator"] == "and":
        matcher = _all_of(parts)
    else:
        matcher = _any_of(parts)
    if group["not"]:
        return _negate(matcher)
    return matcher


# The test of each comparison ``_fuse`` inlines, on ``a`` (the context value's text form, or
# ``None``) and ``K{i}`` (the rule's pre-converted value).
_FUSED: Final = {
    "=": "a == K{i}",
    "!=": "a is not None and a != K{i}",
    "in": "a is not None and a in K{i}",
    "notIn": "a is not None and a not in K{i}",
}


def _fuse(rules: list[dict[str, Any]], parts: tuple[Matcher, ...], every: bool) -> Matcher:
    """One function for a group's members: its ``=``/``!=``/``in``/``notIn`` rules inlined,
    the others (and nested groups) called; short-circuits like :func:`_all_of`/:func:`_any_of`.

    The generated source holds only fixed text and generated names: every field name and
    value from the rules is passed in the namespace (``F{i}``, ``K{i}``, ``R{i}``), never
    written into the source.
    """
    space: dict[str, Any] = {"_text": text_form}
    lines = ["def fused(context):", "    get = context.get"]
    for i, (rule, part) in enumerate(zip(rules, parts, strict=True)):
        test = _FUSED.get(rule.get("operator", "")) if "rules" not in rule else None
        if test is None:
            space[f"R{i}"] = part
            cond = f"R{i}(context)"
        else:
            value = rule["value"]
            op = rule["operator"]
            space[f"F{i}"] = rule["field"]
            space[f"K{i}"] = (
                frozenset(text_form(v) for v in value)
                if op in ("in", "notIn")
                else text_form(value)
            )
            lines.append(f"    a = get(F{i})")
            lines.append("    if a.__class__ is not str:")
            lines.append("        a = _text(a)")
            cond = test.format(i=i)
        lines.append(f"    if not ({cond}):" if every else f"    if {cond}:")
        lines.append(f"        return {not every}")
    lines.append(f"    return {every}")
    exec("\n".join(lines), space)
    fused: Matcher = space["fused"]
    return fused


def _all_of(parts: tuple[Matcher, ...]) -> Matcher:
    if len(parts) == 2:
        first, second = parts

        def both(context: Mapping[str, Any]) -> bool:
            return first(context) and second(context)

        return both

    def every(context: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - all() would allocate a generator per call
            if not part(context):
                return False
        return True

    return every


def _any_of(parts: tuple[Matcher, ...]) -> Matcher:
    if len(parts) == 2:
        first, second = parts

        def either(context: Mapping[str, Any]) -> bool:
            return first(context) or second(context)

        return either

    def some(context: Mapping[str, Any]) -> bool:
        for part in parts:  # noqa: SIM110 - any() would allocate a generator per call
            if part(context):
                return True
        return False

    return some


def _negate(inner: Matcher) -> Matcher:
    def negated(context: Mapping[str, Any]) -> bool:
        return not inner(context)

    return negated


def _compile_rule(rule: dict[str, Any]) -> Matcher:
    field: str = rule["field"]
    op: str = rule["operator"]
    value = rule["value"]
    if op == "null":
        return lambda context: context.get(field) is None
    if op == "notNull":
        return lambda context: context.get(field) is not None
    if op in ORDERING:
        return _ordered(field, ORDERING[op], value)
    if op == "between":
        return _between(field, value[0], value[1])
    if op in ("in", "notIn"):
        return _membership(field, frozenset(text_form(item) for item in value), op == "in")
    expected = text_form(value)
    assert expected is not None  # validated: a scalar
    if op == "=":

        def equals(context: Mapping[str, Any]) -> bool:
            actual = context.get(field)
            if actual.__class__ is str:
                return actual == expected
            return text_form(actual) == expected

        return equals
    if op == "!=":

        def differs(context: Mapping[str, Any]) -> bool:
            actual = context.get(field)
            if actual.__class__ is str:
                return actual != expected
            text = text_form(actual)
            return text is not None and text != expected

        return differs
    if op == "contains":

        def contains(context: Mapping[str, Any]) -> bool:
            text = text_form(context.get(field))
            return text is not None and expected in text

        return contains
    if op == "beginsWith":

        def begins(context: Mapping[str, Any]) -> bool:
            text = text_form(context.get(field))
            return text is not None and text.startswith(expected)

        return begins

    def ends(context: Mapping[str, Any]) -> bool:
        text = text_form(context.get(field))
        return text is not None and text.endswith(expected)

    return ends


def _membership(field: str, members: frozenset[str | None], wanted: bool) -> Matcher:
    def member(context: Mapping[str, Any]) -> bool:
        actual = context.get(field)
        text = actual if actual.__class__ is str else text_form(actual)
        return text is not None and (text in members) is wanted

    return member


def _ordered(field: str, cmp: Callable[[Any, Any], bool], value: object) -> Matcher:
    bound_text = text_form(value)
    bound_number = number_form(value)

    def compare(context: Mapping[str, Any]) -> bool:
        actual = context.get(field)
        if actual is None:
            return False
        cls = actual.__class__
        if bound_number is not None:
            number = actual if cls is int or cls is float else number_form(actual)
            if number is not None and number == number:
                return cmp(number, bound_number)
        text = actual if cls is str else text_form(actual)
        return text is not None and cmp(text, bound_text)

    return compare


def _between(field: str, first: object, second: object) -> Matcher:
    n1, n2 = number_form(first), number_form(second)
    numbers = None if n1 is None or n2 is None else (min(n1, n2), max(n1, n2))
    t1, t2 = text_form(first) or "", text_form(second) or ""
    low_text, high_text = min(t1, t2), max(t1, t2)

    def within(context: Mapping[str, Any]) -> bool:
        actual = context.get(field)
        if actual is None:
            return False
        if numbers is not None:
            number = number_form(actual)
            if number is not None:
                return numbers[0] <= number <= numbers[1]
        text = text_form(actual)
        return text is not None and low_text <= text <= high_text

    return within
