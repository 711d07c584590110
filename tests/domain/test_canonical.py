"""Version digests: one digest per content, whatever the spelling of the JSON it came in."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain.canonical import canonical_json, sha256_digest, version_digest
from promptstage.domain.config import parse_config
from promptstage.domain.template import check_template, parse_variables

from .strategies import contents, respelled


def digest_of(raw: dict[str, Any]) -> str:
    """The digest the service computes for raw client input."""
    return version_digest(
        raw["type"],
        check_template(raw["type"], raw["template"]),
        parse_variables(raw["variables"]),
        parse_config(raw["config"]),
    )


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(contents(), st.randoms(use_true_random=False))
def test_digest_is_stable_under_key_order_and_whitespace(
    raw: dict[str, Any], rnd: random.Random
) -> None:
    again = json.loads(respelled(raw, rnd))
    assert digest_of(again) == digest_of(raw)


@settings(deadline=None)
@given(contents(), st.randoms(use_true_random=False))
def test_digest_ignores_the_order_variables_are_declared_in(
    raw: dict[str, Any], rnd: random.Random
) -> None:
    shuffled = copy.deepcopy(raw)
    rnd.shuffle(shuffled["variables"])
    assert digest_of(shuffled) == digest_of(raw)


def _change_type(raw: dict[str, Any]) -> None:
    if raw["type"] == "text":
        raw["type"], raw["template"] = "chat", [{"role": "system", "content": raw["template"]}]
    else:
        raw["type"], raw["template"] = "text", raw["template"][0]["content"]


def _change_template(raw: dict[str, Any]) -> None:
    if raw["type"] == "text":
        raw["template"] += "!"
    else:
        raw["template"][-1]["content"] += "!"


def _change_variables(raw: dict[str, Any]) -> None:
    raw["variables"].append({"name": "zz_extra_variable", "required": False})


def _change_required(raw: dict[str, Any]) -> None:
    if not raw["variables"]:
        raw["variables"].append({"name": "v", "required": True})
    raw["variables"][0]["required"] = not raw["variables"][0].get("required", True)


def _change_model_version(raw: dict[str, Any]) -> None:
    raw["config"]["model"]["version"] += "-new"


def _change_params(raw: dict[str, Any]) -> None:
    raw["config"]["params"]["temperature_changed"] = 0.5


def _change_tools(raw: dict[str, Any]) -> None:
    raw["config"]["tools"].append({"name": "zz_new_tool", "description": ""})


def _change_retrieval(raw: dict[str, Any]) -> None:
    current = raw["config"].get("retrieval")
    raw["config"]["retrieval"] = (
        {"index": "kb", "version": "2"}
        if current is None
        else {**current, "version": current["version"] + "1"}
    )


def _change_metadata(raw: dict[str, Any]) -> None:
    raw["config"]["metadata"]["owner_changed"] = True


CHANGES = [
    _change_type,
    _change_template,
    _change_variables,
    _change_required,
    _change_model_version,
    _change_params,
    _change_tools,
    _change_retrieval,
    _change_metadata,
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.removeprefix("_change_"))
@settings(max_examples=20, deadline=None)  # times 9 fields
@given(raw=contents())
def test_digest_changes_when_any_field_changes(change: Any, raw: dict[str, Any]) -> None:
    changed = copy.deepcopy(raw)
    change(changed)
    assert digest_of(changed) != digest_of(raw)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", {"d": None, "c": 1.5}]}) == (
        '{"a":["é",{"c":1.5,"d":null}],"b":1}'.encode()
    )


def test_digest_is_sha256_of_the_canonical_json() -> None:
    import hashlib

    content = {"type": "text", "template": "hi", "variables": [], "config": {"x": 1}}
    expected = (
        "sha256:"
        + hashlib.sha256(
            b'{"config":{"x":1},"template":"hi","type":"text","variables":[]}'
        ).hexdigest()
    )
    assert sha256_digest(content) == expected
    assert version_digest("text", "hi", [], {"x": 1}) == expected


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
