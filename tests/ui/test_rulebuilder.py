"""The no-JS rule builder: flat form fields <-> rule tree <-> react-querybuilder JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from promptstage.rollout.targeting import validate_rules
from promptstage.ui import rulebuilder as rb

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
words = st.text(alphabet="abcXYZ019 ,\\-", min_size=1, max_size=10).filter(
    lambda t: t.strip(", \\")
)
ops = st.sampled_from(["=", "!=", "contains", "beginsWith", "null", "notNull", "in"])
rules = st.builds(rb.Rule, names, ops, words)
groups = st.recursive(
    st.builds(rb.Group, st.sampled_from(["and", "or"]), st.booleans(), st.lists(rules, max_size=3)),
    lambda inner: st.builds(
        rb.Group, st.sampled_from(["and", "or"]), st.booleans(), st.lists(rules | inner, max_size=3)
    ),
    max_leaves=12,
)


def to_form(group: rb.Group, path: str = "0", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a browser sends for ``group`` (as the template renders it)."""
    out = {} if out is None else out
    out[f"g:{path}:combinator"] = group.combinator
    if group.negate:
        out[f"g:{path}:not"] = "on"
    for i, item in enumerate(group.rules):
        child = f"{path}.{i}"
        if isinstance(item, rb.Group):
            to_form(item, child, out)
        else:
            out.update({f"r:{child}:field": item.field, f"r:{child}:operator": item.operator,
                        f"r:{child}:value": item.value})  # fmt: skip
    return out


def depth(group: rb.Group) -> int:
    return 1 + max((depth(r) for r in group.rules if isinstance(r, rb.Group)), default=0)


def pruned(group: rb.Group) -> rb.Group:
    """What the form can carry: a nested group without rules sends only its combinator."""
    return rb.Group(
        group.combinator,
        group.negate,
        [pruned(r) if isinstance(r, rb.Group) else r for r in group.rules],
    )


@given(groups)
def test_form_fields_round_trip(group: rb.Group) -> None:
    if depth(group) > 8:
        return
    assert rb.from_form(to_form(group)) == pruned(group)


@given(groups)
def test_json_round_trips_through_the_builder(group: rb.Group) -> None:
    if depth(group) > 8:
        return
    data = rb.to_json(group)
    again = rb.from_json(data)
    assert rb.to_json(again) == data


def test_an_item_ending_in_a_backslash_stays_its_own_item() -> None:
    # Found by the property test below: the items ["\\", "0"] were written back as "\\,0",
    # which reads as one item ",0" (an escaped comma).
    normalized = validate_rules(
        {"combinator": "and", "rules": [{"field": "f", "operator": "in", "value": "\\ ,0"}]}
    )
    assert normalized["rules"][0]["value"] == ["\\", "0"]
    again = validate_rules(rb.to_json(rb.from_json(normalized)))
    assert again == normalized


@given(groups)
def test_builder_json_is_what_the_service_validates(group: rb.Group) -> None:
    if depth(group) > 8:
        return
    normalized = validate_rules(rb.to_json(group))
    assert validate_rules(rb.to_json(rb.from_json(normalized))) == normalized


def test_buttons_add_nest_and_remove() -> None:
    root = rb.Group()
    rb.apply(root, "add-rule:0")
    rb.apply(root, "add-group:0")
    rb.apply(root, "add-rule:0.1")
    assert [type(r).__name__ for r in root.rules] == ["Rule", "Group"]
    inner = root.rules[1]
    assert isinstance(inner, rb.Group) and len(inner.rules) == 2
    rb.apply(root, "remove:0.1.0")
    assert len(inner.rules) == 1
    rb.apply(root, "remove:0.0")
    assert root.rules == [inner]
    rb.apply(root, "remove:0")  # the root stays
    rb.apply(root, "remove:0.7")  # nothing there: nothing changes
    rb.apply(root, "add-rule:0.0.0.0")  # no such group
    rb.apply(root, "bogus")
    assert root.rules == [inner]


def test_nesting_and_size_are_bounded() -> None:
    root = rb.Group()
    path = "0"
    for _ in range(12):
        rb.apply(root, f"add-group:{path}")
        path += ".1" if path != "0" else ".0"
    assert depth(root) == 8  # add-group stops at the deepest level rollout.targeting accepts
    flat = rb.Group()
    for _ in range(150):
        rb.apply(flat, "add-rule:0")
    assert len(flat.rules) == 100


def test_form_ignores_malformed_keys() -> None:
    form = {"r:0:field": "x", "r:1.0:field": "y", "g:0:combinator": "xor", "zz": "1",
            "r:0.0.5:field": "orphan", "r:0.0:field": "country", "r:0.0:operator": "="}  # fmt: skip
    group = rb.from_form(form)
    assert rb.to_json(group) == {
        "combinator": "and", "not": False, "rules": [{"field": "country", "operator": "=", "value": ""}]
    }  # fmt: skip


def test_error_paths_map_to_builder_inputs() -> None:
    assert rb.field_of("targeting.rules[1].rules[0].operator") == "r:0.1.0:operator"
    assert rb.field_of("targeting.rules[0].value[1]") == "r:0.0:value"
    assert rb.field_of("targeting.rules[2].combinator") == "g:0.2:combinator"
    assert rb.field_of("steps") is None
