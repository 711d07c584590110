"""Dependency specs, references and drift comparison (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.domain.deps import DepKind, DepRef, parse_spec, references
from promptstage.domain.drift import mismatches, model_matches
from promptstage.errors import InvalidInputError

_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
_version = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True)


@given(kind=st.sampled_from([DepKind.TOOL, DepKind.INDEX, DepKind.RULESET]), name=_name,
       version=st.none() | _version)  # fmt: skip
def test_a_spec_round_trips(kind: DepKind, name: str, version: str | None) -> None:
    ref = DepRef(kind, name, version)
    assert parse_spec(str(ref)) == ref


@given(provider=_name, name=_name, version=_version)
def test_a_model_spec_round_trips(provider: str, name: str, version: str) -> None:
    ref = DepRef(DepKind.MODEL, f"{provider}/{name}", version)
    assert parse_spec(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "field_hint"),
    [("kb@7", "KIND:NAME"), ("vector:kb@7", "kind"), ("model:gpt-4o@1", "PROVIDER/NAME"),
     ("index:kb@", "version")],
)  # fmt: skip
def test_bad_specs_say_how_to_write_them(text: str, field_hint: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(text)
    assert field_hint in caught.value.message
    assert caught.value.field == "dep"


def test_references_are_one_key_objects_naming_the_kind() -> None:
    config = {
        "model": {"model": "openai/gpt-4o@2024-08-06"},
        "tools": [{"tool": "book@3"}, {"name": "inline", "description": "", "parameters": {}}],
        "retrieval": {"index": "kb", "version": "7"},  # inline
        "postprocess": {"ruleset": "strip@1"},
    }
    assert [(f, str(r)) for f, r in references(config)] == [
        ("config.model", "model:openai/gpt-4o@2024-08-06"),
        ("config.postprocess", "ruleset:strip@1"),
        ("config.tools[0]", "tool:book@3"),
    ]


GPT = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


@pytest.mark.parametrize(
    ("reported", "matches"),
    [("gpt-4o-2024-08-06", True), ("2024-08-06", True), ("openai/gpt-4o-2024-08-06", True),
     ("gpt-4o@2024-08-06", True), ("gpt-4o", True), ("gpt-4o-2024-11-20", False),
     ("gpt-4o-mini-2024-07-18", False)],
)  # fmt: skip
def test_model_matching(reported: str, matches: bool) -> None:
    assert model_matches(GPT, reported) is matches


def test_mismatches_per_kind() -> None:
    config = {"model": GPT, "tools": [{"name": "find_slots"}],
              "retrieval": {"index": "kb", "version": "7"}}  # fmt: skip
    assert mismatches(config, "gpt-4o-2024-08-06", "kb@7", ["find_slots"]) == []
    found = mismatches(config, "gpt-4o-2024-11-20", "kb@8", ["find_slots", "search"])
    assert [(m.kind, m.expected, m.observed) for m in found] == [
        ("model", "openai/gpt-4o@2024-08-06", "gpt-4o-2024-11-20"),
        ("index", "kb@7", "kb@8"),
        ("tool", "find_slots", "search"),
    ]
    assert [m.expected for m in mismatches({"model": GPT}, None, "kb@7", None)] == ["none"]
