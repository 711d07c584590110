"""The fused group matcher (comparisons inlined into one function) answers exactly as the
rule-by-rule evaluation it replaces, for any valid rule tree and context."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from promptstage.rollout.matching import _compile_rule, compile_group
from promptstage.rollout.targeting import validate_rules

from .test_targeting import contexts, valid_groups


def reference(group: dict[str, Any], context: dict[str, Any]) -> bool:
    """Rule by rule, with Python's all/any (no fusing)."""
    results = [
        reference(item, context) if "rules" in item else _compile_rule(item)(context)
        for item in group["rules"]
    ]
    if not results:
        return True
    combined = all(results) if group["combinator"] == "and" else any(results)
    return not combined if group["not"] else combined


@settings(max_examples=400)
@given(tree=valid_groups, context=contexts)
def test_fused_groups_match_like_rule_by_rule(tree: dict[str, Any], context: dict[str, Any]):
    group = validate_rules(tree)
    assert compile_group(group)(context) is reference(group, context)


def test_two_rules_with_hostile_field_names_and_values_stay_data():
    # Field names and values never reach the generated source: quotes, newlines and code
    # in them are compared as text.
    evil = "x'); import os; os._exit(1); ('"
    group = validate_rules(
        {
            "combinator": "and",
            "rules": [
                {"field": evil, "operator": "=", "value": "a\nb"},
                {"field": "c\n", "operator": "in", "value": [evil, "2"]},
            ],
        }
    )
    matcher = compile_group(group)
    assert matcher({evil: "a\nb", "c\n": evil}) is True
    assert matcher({evil: "a\nb", "c\n": 2}) is True
    assert matcher({evil: "a", "c\n": evil}) is False
