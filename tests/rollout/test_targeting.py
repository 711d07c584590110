"""Targeting rules: validation, normalization and matching semantics."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout.targeting import (
    MAX_DEPTH,
    MAX_RULES,
    OPERATORS,
    compile_rules,
    validate_rules,
)


def group(*rules: dict[str, Any], combinator: str = "and", negate: bool = False) -> dict[str, Any]:
    return {"combinator": combinator, "not": negate, "rules": list(rules)}


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def matches(r: dict[str, Any], context: dict[str, Any]) -> bool:
    return compile_rules(group(r))(context)


# --- operators -------------------------------------------------------------------------------

OPERATOR_TABLE: list[tuple[str, Any, Any, bool]] = [
    # operator, rule value, context value, expected
    ("=", "FR", "FR", True),
    ("=", "FR", "BE", False),
    ("=", "FR", "fr", False),
    ("=", 5, "5", True),
    ("=", "5", 5, True),
    ("=", 5, 5.0, True),
    ("=", "5", "5.0", False),
    ("=", "true", True, True),
    ("=", False, "false", True),
    ("=", "", "", True),
    ("=", 2.5, "2.5", True),
    ("!=", "FR", "BE", True),
    ("!=", "FR", "FR", False),
    ("!=", 5, "5", False),
    ("<", 18, "9", True),
    ("<", 18, 18, False),
    ("<", "b", "a", True),
    ("<", "10", "9a", False),
    ("<", "1e3", 999, True),
    (">", "9", "10", True),
    (">", 9, True, True),  # a boolean is not a number: "true" > "9" as text
    (">", "m", "pro", True),
    ("<=", 18, "18", True),
    ("<=", 18, "18.5", False),
    (">=", 18, 17.5, False),
    (">=", 18, "18", True),
    (">=", "-1.5", "-1", True),
    ("in", ["FR", "BE"], "BE", True),
    ("in", "FR, BE ,DE", "DE", True),
    ("in", ["FR", "BE"], "US", False),
    ("in", [1, 2], "2", True),
    ("in", [True], "true", True),
    ("in", "a\\,b,c", "a,b", True),
    ("in", 7, "7", True),
    ("notIn", ["FR", "BE"], "US", True),
    ("notIn", "FR,BE", "FR", False),
    ("contains", "@acme.", "ann@acme.io", True),
    ("contains", "@acme.", "ann@other.io", False),
    ("contains", 42, 1423, True),
    ("beginsWith", "eu-", "eu-west-1", True),
    ("beginsWith", "eu-", "us-east-1", False),
    ("endsWith", ".io", "ann@acme.io", True),
    ("endsWith", ".io", "ann@acme.com", False),
    ("null", None, "x", False),
    ("null", "", None, True),
    ("notNull", None, "", True),
    ("notNull", None, None, False),
    ("between", [18, 65], "18", True),
    ("between", "18,65", 65, True),
    ("between", [18, 65], "66", False),
    ("between", [65, 18], 30, True),
    ("between", [9, 100], "10", True),
    ("between", ["a", "m"], "free", True),
    ("between", ["a", "m"], "zed", False),
    ("between", [1, "z"], "5", True),  # one bound is not a number: text comparison
]


@pytest.mark.parametrize(("op", "value", "actual", "expected"), OPERATOR_TABLE)
def test_operator(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert matches(rule("f", op, value), {"f": actual}) is expected


def test_table_covers_every_operator() -> None:
    assert {row[0] for row in OPERATOR_TABLE} == OPERATORS


MISSING_VALUES = {
    "=": "x", "!=": "x", "<": 1, ">": 1, "<=": 1, ">=": 1, "in": ["x"], "notIn": ["x"],
    "contains": "x", "beginsWith": "x", "endsWith": "x", "null": None, "notNull": None,
    "between": [1, 2],
}  # fmt: skip


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("context", [{}, {"f": None}], ids=["absent", "json-null"])
def test_missing_field(op: str, context: dict[str, Any]) -> None:
    # null is true, notNull false, everything else (even != and notIn) false.
    assert matches(rule("f", op, MISSING_VALUES[op]), context) is (op == "null")


@pytest.mark.parametrize("op", sorted(OPERATORS))
@pytest.mark.parametrize("actual", [["x"], {"x": 1}, object()], ids=["list", "dict", "object"])
def test_non_scalar_context_values_match_only_not_null(op: str, actual: Any) -> None:
    assert matches(rule("f", op, MISSING_VALUES[op]), {"f": actual}) is (op == "notNull")


def test_non_finite_context_numbers_do_not_crash() -> None:
    for value in (math.nan, math.inf, -math.inf):
        for op in ("<", ">=", "between", "="):
            assert matches(rule("f", op, MISSING_VALUES[op]), {"f": value}) in (True, False)


# --- groups ----------------------------------------------------------------------------------


def test_and_or_not() -> None:
    fr, pro = rule("country", "=", "FR"), rule("plan", "=", "pro")
    ctx = {"country": "FR", "plan": "free"}
    assert compile_rules(group(fr, pro))(ctx) is False
    assert compile_rules(group(fr, pro, combinator="or"))(ctx) is True
    assert compile_rules(group(fr, pro, negate=True))(ctx) is True
    assert compile_rules(group(fr, pro, combinator="or", negate=True))(ctx) is False


def test_three_way_groups() -> None:
    rules = [rule("a", "=", 1), rule("b", "=", 2), rule("c", "=", 3)]
    assert compile_rules(group(*rules))({"a": 1, "b": 2, "c": 3}) is True
    assert compile_rules(group(*rules))({"a": 1, "b": 2}) is False
    assert compile_rules(group(*rules, combinator="or"))({"c": "3"}) is True
    assert compile_rules(group(*rules, combinator="or"))({}) is False


def test_nested_groups() -> None:
    tree = group(
        rule("country", "in", ["FR", "BE"]),
        group(rule("plan", "=", "pro"), rule("seats", ">=", 50), combinator="or"),
        group(rule("email", "endsWith", "@competitor.com"), negate=True),
    )
    m = compile_rules(tree)
    assert m({"country": "FR", "seats": "120", "email": "a@acme.io"}) is True
    assert m({"country": "FR", "plan": "free", "seats": 10}) is False
    assert m({"country": "BE", "plan": "pro", "email": "x@competitor.com"}) is False


def test_empty_groups() -> None:
    assert compile_rules(group())({}) is True
    assert compile_rules(group(negate=True))({}) is True
    # Nested empty groups are dropped, whatever their "not" or the parent's combinator.
    tree = group(rule("a", "=", 1), group(), group(negate=True), combinator="or")
    assert validate_rules(tree)["rules"] == [rule("a", "=", 1)]
    assert compile_rules(tree)({"a": 2}) is False


# --- validation ------------------------------------------------------------------------------


def nest(levels: int) -> dict[str, Any]:
    tree = group(rule("a", "=", 1))
    for _ in range(levels - 1):
        tree = group(tree)
    return tree


INVALID: list[tuple[Any, str]] = [
    (None, "targeting"),
    ([], "targeting"),
    ({"rules": []}, "targeting.combinator"),
    (group(combinator="xor"), "targeting.combinator"),
    ({"combinator": "and", "not": "yes", "rules": []}, "targeting.not"),
    ({"combinator": "and"}, "targeting.rules"),
    ({"combinator": "and", "rules": {}}, "targeting.rules"),
    ({"combinator": "and", "rules": [], "extra": 1}, "targeting.extra"),
    (group(rule("a", "=", 1), "and", rule("b", "=", 2)), "targeting.rules[1]"),
    (group(rule("a", "=", 1), 7), "targeting.rules[1]"),
    (group(rule("a", "=", 1), rule("a", "like", "x")), "targeting.rules[1].operator"),
    (group(rule("a", "doesNotContain", "x")), "targeting.rules[0].operator"),
    (group({"operator": "=", "value": 1}), "targeting.rules[0].field"),
    (group(rule("", "=", 1)), "targeting.rules[0].field"),
    (group({**rule("a", "=", 1), "disabled": True}), "targeting.rules[0].disabled"),
    (group({**rule("a", "=", 1), "valueSource": "field"}), "targeting.rules[0].valueSource"),
    (group(rule("a", "between", [1])), "targeting.rules[0].value"),
    (group(rule("a", "between", [1, 2, 3])), "targeting.rules[0].value"),
    (group(rule("a", "between", "1")), "targeting.rules[0].value"),
    (group(rule("a", "between", 5)), "targeting.rules[0].value"),
    (group(rule("a", "between", [1, True])), "targeting.rules[0].value[1]"),
    (group(rule("a", "in", {"x": 1})), "targeting.rules[0].value"),
    (group(rule("a", "in", [])), "targeting.rules[0].value"),
    (group(rule("a", "in", " , ")), "targeting.rules[0].value"),
    (group(rule("a", "in", ["x", ["y"]])), "targeting.rules[0].value[1]"),
    (group(rule("a", "notIn", None)), "targeting.rules[0].value"),
    (group(rule("a", "=", ["x"])), "targeting.rules[0].value"),
    (group(rule("a", "=", None)), "targeting.rules[0].value"),
    (group(rule("a", "<", True)), "targeting.rules[0].value"),
    (group(rule("a", "<", math.nan)), "targeting.rules[0].value"),
    (group(rule("a", "contains", "")), "targeting.rules[0].value"),
    (
        group(group(rule("a", "=", 1)), group(rule("b", "~", 1))),
        "targeting.rules[1].rules[0].operator",
    ),
    (nest(MAX_DEPTH + 1), "targeting" + ".rules[0]" * MAX_DEPTH),
    (group(*[rule("a", "=", i) for i in range(MAX_RULES + 1)]), f"targeting.rules[{MAX_RULES}]"),
]


@pytest.mark.parametrize(("obj", "path"), INVALID)
def test_invalid_rules_name_the_path(obj: Any, path: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_rules(obj)
    assert info.value.field == path
    assert info.value.message.startswith(f"{path}: ")


def test_limits_are_inclusive() -> None:
    validate_rules(nest(MAX_DEPTH))
    validate_rules(group(*[rule("a", "=", i) for i in range(MAX_RULES)]))
    # Groups count towards the limit too.
    with pytest.raises(InvalidInputError, match="more than 100"):
        validate_rules(group(*[group(rule("a", "=", i)) for i in range(51)]))


def test_unknown_field_with_allowed_fields() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_rules(
            group(rule("plan", "=", "pro"), rule("contry", "=", "FR")), fields={"country", "plan"}
        )
    assert info.value.field == "targeting.rules[1].field"
    assert "country, plan" in info.value.message
    assert validate_rules(group(rule("plan", "=", "pro")), fields={"plan"})


def test_path_prefix() -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_rules(group(rule("a", "?", 1)), path="release.targeting")
    assert info.value.field == "release.targeting.rules[0].operator"


def test_normalization() -> None:
    raw = {
        "id": "root",
        "combinator": "OR",
        "rules": [
            {
                "id": "r1",
                "field": "country",
                "operator": "in",
                "value": " FR, BE ,,\\,x ",
                "valueSource": "value",
            },
            {"field": "age", "operator": "between", "value": "18, 65"},
            {"field": "tenant", "operator": "null", "value": ""},
            {"field": "tier", "operator": "in", "value": [" a ", 2]},
            {"combinator": "and", "rules": []},
        ],
    }
    assert validate_rules(raw) == {
        "combinator": "or",
        "not": False,
        "rules": [
            rule("country", "in", ["FR", "BE", ",x"]),
            rule("age", "between", ["18", "65"]),
            rule("tenant", "null", None),
            rule("tier", "in", ["a", 2]),
        ],
    }


# --- properties ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
operators = st.sampled_from(sorted(OPERATORS)) | st.text(max_size=6)
fields = st.sampled_from(["country", "plan", "age", "tenant"])
loose_rules = st.fixed_dictionaries(
    {"field": fields | json_values, "operator": operators, "value": json_values},
    optional={"id": json_values, "valueSource": json_values, "junk": json_values},
)
loose_groups = st.recursive(
    st.fixed_dictionaries(
        {"combinator": st.sampled_from(["and", "or", "AND", "xor"]) | json_values,
         "rules": st.lists(loose_rules | json_values, max_size=4)},
        optional={"not": st.booleans() | json_values},
    ),
    lambda children: st.fixed_dictionaries(
        {"combinator": st.sampled_from(["and", "or"]),
         "rules": st.lists(children | loose_rules, max_size=4)},
        optional={"not": st.booleans()},
    ),
    max_leaves=30,
)  # fmt: skip


@given(obj=json_values | loose_groups)
def test_validator_only_raises_invalid_input(obj: Any) -> None:
    try:
        normalized = validate_rules(obj)
    except InvalidInputError as error:
        assert error.field is not None and error.field.startswith("targeting")
        assert error.message.startswith(error.field)
    else:
        assert validate_rules(normalized) == normalized


scalars = (
    st.text(max_size=6)
    | st.integers(-100, 100)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.booleans()
    | st.sampled_from(["1", "10", "9", "-2.5", "1e2", "FR", "pro"])
)
ordered_scalars = scalars.filter(lambda v: not isinstance(v, bool) and v != "")


@st.composite
def valid_rules(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(sorted(OPERATORS)))
    if op in ("null", "notNull"):
        value: Any = None
    elif op in ("in", "notIn"):
        value = draw(st.lists(scalars, min_size=1, max_size=4))
    elif op == "between":
        value = draw(st.lists(ordered_scalars, min_size=2, max_size=2))
    elif op in ("=", "!="):
        value = draw(scalars)
    else:
        value = draw(ordered_scalars)
    return rule(draw(fields), op, value)


valid_groups = st.recursive(
    st.builds(group, st.just(rule("plan", "=", "pro"))),
    lambda children: st.builds(
        lambda rules, comb, neg: group(*rules, combinator=comb, negate=neg),
        st.lists(children | valid_rules(), max_size=4),
        st.sampled_from(["and", "or"]),
        st.booleans(),
    ),
    max_leaves=12,
)
contexts = st.dictionaries(
    fields, scalars | st.none() | st.lists(st.integers(), max_size=2), max_size=4
)


def text_form(value: Any) -> Any:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return value if isinstance(value, str | list) or value is None else repr(value)


@given(tree=valid_groups, context=contexts)
def test_valid_trees_compile_and_match_text_forms_alike(
    tree: dict[str, Any], context: dict[str, Any]
) -> None:
    matcher = compile_rules(tree)
    result = matcher(context)
    assert result in (True, False)
    # The server sees query-string text; the SDK sees JSON scalars: same answer.
    assert compile_rules(tree)({k: text_form(v) for k, v in context.items()}) is result


@given(tree=valid_groups, context=contexts)
@settings(max_examples=50)
def test_not_negates_a_non_empty_group(tree: dict[str, Any], context: dict[str, Any]) -> None:
    if not validate_rules(tree)["rules"]:
        return
    assert compile_rules({**tree, "not": not tree["not"]})(context) is not compile_rules(tree)(
        context
    )
