"""Eval suites: strict parsing with paths in every error, limits, and a stable digest."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.evals.delivery import leftover_message, split_vars
from promptstage.evals.suite import MAX_CASES, dump_suite, parse_suite, suite_from_dict

YAML = """
name: support/smoke
description: A smoke suite
defaults:
  assertions:
    - type: no-pii
judge:
  model: {provider: openai, name: gpt-4o-mini, version: "2024-07-18"}
  rubric: Be polite.
cases:
  - id: greet
    vars: {user: Ada}
    history:
      - {role: user, content: hi}
    expected: {tone: friendly}
    assertions:
      - type: contains
        value: Ada
      - type: llm-judge
  - id: json
    assertions:
      - {type: json-schema, schema: {type: object, required: [answer]}}
"""

TOML = """
name = "support/smoke"
description = "A smoke suite"

[defaults]
assertions = [{type = "no-pii"}]

[judge]
model = {provider = "openai", name = "gpt-4o-mini", version = "2024-07-18"}
rubric = "Be polite."

[[cases]]
id = "greet"
vars = {user = "Ada"}
history = [{role = "user", content = "hi"}]
expected = {tone = "friendly"}
assertions = [{type = "contains", value = "Ada"}, {type = "llm-judge"}]

[[cases]]
id = "json"
assertions = [{type = "json-schema", schema = {type = "object", required = ["answer"]}}]
"""


def test_yaml_and_toml_spellings_give_one_suite_and_digest() -> None:
    a, b = parse_suite(YAML, "yaml"), parse_suite(TOML, "toml")
    assert a == b
    assert a.digest.startswith("sha256:") and len(a.digest) == 71
    judge = a.cases[0].assertions[1]
    assert judge.type == "llm-judge" and not judge.deterministic
    assert judge.params["model"]["name"] == "gpt-4o-mini" and judge.params["rubric"] == "Be polite."
    assert [s.type for s in a.assertions_for(a.cases[0])] == ["no-pii", "contains", "llm-judge"]


def test_dump_then_parse_is_the_same_suite() -> None:
    suite = parse_suite(YAML)
    assert parse_suite(dump_suite(suite)) == suite


def test_a_change_in_any_case_changes_the_digest() -> None:
    changed = parse_suite(YAML.replace("value: Ada", "value: Bob"))
    assert changed.digest != parse_suite(YAML).digest


@pytest.mark.parametrize(
    ("text", "path", "fix"),
    [
        (YAML.replace("value: Ada", "valeu: Ada"), "cases[0].assertions[0].valeu", "use only"),
        (
            YAML.replace("type: contains", "type: containz"),
            "cases[0].assertions[0].type",
            "use one of",
        ),
        (YAML.replace("id: json", "id: greet"), "cases[1].id", "own id"),
        (
            YAML.replace(
                "{type: json-schema, schema: {type: object, required: [answer]}}",
                "{type: regex, pattern: '(unclosed'}",
            ),
            "cases[1].assertions[0].pattern",
            "fix the regular expression",
        ),
        (
            YAML.replace("schema: {type: object", "schema: {type: 12"),
            "cases[1].assertions[0].schema",
            "Draft 2020-12",
        ),
        (YAML.replace("role: user", "role: boss"), "cases[0].history[0].role", "use one of"),
        (
            YAML.replace("vars: {user: Ada}", "vars: {user: 2024-01-01}"),
            "cases[0].vars.user",
            "quote dates",
        ),
        (YAML.replace("vars: {user: Ada}", "vars: {1bad: x}"), "cases[0].vars.1bad", "letters"),
        (YAML.replace("name: support/smoke", "name: builtin/security"), "name", "reserved"),
        (YAML.replace("description: A smoke suite", "descripton: x"), "descripton", "use only"),
        ("name: x\ncases: []\n", "cases", "at least one case"),
        ("name: x\ncases:\n  - id: a\n", "cases[0].assertions", "checks nothing"),
        (
            "name: x\ncases:\n  - id: a\n    owasp: [LLM99]\n    assertions: [{type: refusal}]\n",
            "cases[0].owasp[0]",
            "LLM01",
        ),
    ],
)
def test_errors_name_the_path_and_the_fix(text: str, path: str, fix: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_suite(text)
    assert info.value.field == path
    assert fix in info.value.message


def test_yaml_aliases_and_duplicate_keys_are_refused() -> None:
    bomb = (
        "a: &a [x, x]\nb: &b [*a, *a]\nname: x\ncases: [{id: a, assertions: [{type: refusal}]}]\n"
    )
    with pytest.raises(InvalidInputError, match="aliases"):
        parse_suite(bomb)
    with pytest.raises(InvalidInputError, match="appears twice"):
        parse_suite("name: x\nname: y\ncases: []\n")


def test_too_many_cases_are_refused() -> None:
    data = {
        "name": "big",
        "cases": [
            {"id": f"c{i}", "assertions": [{"type": "refusal"}]} for i in range(MAX_CASES + 1)
        ],
    }
    with pytest.raises(InvalidInputError, match="at most 2000"):
        suite_from_dict(data)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="yaml or toml"):
        parse_suite(YAML, "ini")


def test_leftover_vars_are_delivered_as_the_final_user_message() -> None:
    suite = suite_from_dict(
        {
            "name": "x",
            "cases": [
                {
                    "id": "a",
                    "vars": {"input": "hi", "document": "doc", "user": "Ada"},
                    "assertions": [{"type": "refusal"}],
                }
            ],
        }
    )
    for_template, leftover = split_vars(suite.cases[0], ["user"])
    assert for_template == {"user": "Ada"}
    assert leftover_message(leftover) == "<document>\ndoc\n</document>\n\nhi"
    assert leftover_message({}) is None


# --- property tests -------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SIMPLE_ASSERTIONS = st.one_of(
    st.builds(lambda v: {"type": "contains", "value": v}, TEXT.filter(bool)),
    st.builds(
        lambda v, c: {"type": "not-contains", "value": v, "ignore_case": c},
        TEXT.filter(bool),
        st.booleans(),
    ),
    st.builds(lambda t: {"type": "canary-leak", "threshold": t}, st.floats(0.05, 1.0)),
    st.builds(
        lambda h: {"type": "no-exfil-links", "allowed_hosts": h},
        st.lists(st.from_regex(r"[a-z]{1,10}\.example", fullmatch=True), max_size=3, unique=True),
    ),
    st.just({"type": "refusal"}),
    st.just({"type": "no-pii", "kinds": ["card", "iban"]}),
    st.builds(lambda m: {"type": "tool-calls", "max_calls": m}, st.integers(0, 10)),
)
json_leaf = st.none() | st.booleans() | st.integers(-1000, 1000) | TEXT
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
cases = st.lists(
    st.fixed_dictionaries(
        {
            "vars": st.dictionaries(
                st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), json_values, max_size=3
            ),
            "assertions": st.lists(SIMPLE_ASSERTIONS, min_size=1, max_size=3),
            "history": st.lists(
                st.fixed_dictionaries(
                    {"role": st.sampled_from(["user", "assistant"]), "content": TEXT}
                ),
                max_size=2,
            ),
            "expected": st.dictionaries(TEXT, json_values, max_size=2),
        }
    ),
    min_size=1,
    max_size=4,
)
suites = st.builds(
    lambda name, desc, cs: {
        "name": name,
        "description": desc,
        "cases": [{"id": f"case-{i}", **c} for i, c in enumerate(cs)],
    },
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(/[a-z][a-z0-9]{0,5})?", fullmatch=True),
    TEXT,
    cases,
)


def _shuffled(value: Any, rnd: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@settings(deadline=None, max_examples=60)
@given(suites)
def test_parse_of_dump_is_the_same_suite(data: dict[str, Any]) -> None:
    suite = suite_from_dict(data)
    assert parse_suite(dump_suite(suite)) == suite
    assert parse_suite(json.dumps(suite.to_dict())) == suite  # JSON is YAML


@settings(deadline=None, max_examples=60)
@given(suites, st.randoms(use_true_random=False))
def test_digest_is_stable_under_key_order(data: dict[str, Any], rnd: random.Random) -> None:
    assert suite_from_dict(_shuffled(data, rnd)).digest == suite_from_dict(data).digest
