"""Dependency snapshots: validation names the field, normalization makes defaults explicit."""

from __future__ import annotations

from typing import Any

import pytest

from promptstage.domain.config import MAX_TOOLS, Config, ModelRef, Pinned, Tool, parse_config
from promptstage.errors import InvalidInputError

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


def test_minimal_config_is_normalized_with_explicit_defaults() -> None:
    assert parse_config({"model": MODEL}) == {
        "model": MODEL,
        "params": {},
        "tools": [],
        "retrieval": None,
        "postprocess": None,
        "metadata": {},
    }


def test_full_config_round_trips_to_typed_values() -> None:
    raw = {
        "model": MODEL,
        "params": {"temperature": 0.2, "max_tokens": 400},
        "tools": [
            {
                "name": "find_slots",
                "description": "Free slots.",
                "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
            },
            {"name": "ping"},
        ],
        "retrieval": {"index": "kb", "version": "2024-11-02"},
        "postprocess": {"name": "strip-pii", "version": "1.2.0"},
        "metadata": {"owner": "team"},
    }
    normalized = parse_config(raw)
    assert normalized["tools"][1] == {
        "name": "ping",
        "description": "",
        "parameters": {"type": "object", "properties": {}},
    }
    config = Config.from_dict(normalized)
    assert config.model == ModelRef("openai", "gpt-4o", "2024-08-06")
    assert config.tools[0] == Tool("find_slots", "Free slots.", raw["tools"][0]["parameters"])
    assert config.retrieval == Pinned("kb", "2024-11-02")
    assert config.postprocess == Pinned("strip-pii", "1.2.0")
    assert config.params == {"temperature": 0.2, "max_tokens": 400}
    assert config.metadata == {"owner": "team"}


def test_defaults_spelled_out_share_the_digest_input() -> None:
    assert parse_config({"model": MODEL}) == parse_config(
        {
            "model": MODEL,
            "params": {},
            "tools": [],
            "retrieval": None,
            "postprocess": None,
            "metadata": {},
        }
    )


def _with(**changes: Any) -> dict[str, Any]:
    return {"model": dict(MODEL), **changes}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([], "config"),
        ({"model": MODEL, "temperature": 0.2}, "config"),
        ({}, "config.model"),
        ({"model": "gpt-4o"}, "config.model"),
        ({"model": {**MODEL, "region": "eu"}}, "config.model"),
        ({"model": {"provider": "openai", "name": "gpt-4o"}}, "config.model.version"),
        ({"model": {**MODEL, "version": ""}}, "config.model.version"),
        ({"model": {**MODEL, "version": "   "}}, "config.model.version"),
        ({"model": {**MODEL, "version": 4}}, "config.model.version"),
        ({"model": {**MODEL, "version": "x" * 257}}, "config.model.version"),
        ({"model": {**MODEL, "provider": None}}, "config.model.provider"),
        ({"model": {**MODEL, "name": ["gpt"]}}, "config.model.name"),
        (_with(params=[0.2]), "config.params"),
        (_with(params={"temperature": float("nan")}), "config.params.temperature"),
        (_with(params={"nested": {"xs": [1, float("inf")]}}), "config.params.nested.xs[1]"),
        (_with(tools={"name": "x"}), "config.tools"),
        (_with(tools=[{"name": "t"}] * 2), "config.tools[1].name"),
        (_with(tools=[{"name": f"t{i}"} for i in range(MAX_TOOLS + 1)]), "config.tools"),
        (_with(tools=["find_slots"]), "config.tools[0]"),
        (_with(tools=[{"name": "t", "schema": {}}]), "config.tools[0]"),
        (_with(tools=[{"name": ""}]), "config.tools[0].name"),
        (_with(tools=[{"name": "t", "description": 3}]), "config.tools[0].description"),
        (_with(tools=[{"name": "t", "parameters": "object"}]), "config.tools[0].parameters"),
        (
            _with(tools=[{"name": "t", "parameters": {"default": float("nan")}}]),
            "config.tools[0].parameters.default",
        ),
        (_with(retrieval="kb"), "config.retrieval"),
        (_with(retrieval={"index": "kb"}), "config.retrieval.version"),
        (_with(retrieval={"name": "kb", "version": "1"}), "config.retrieval"),
        (_with(postprocess={"name": "strip-pii", "version": ""}), "config.postprocess.version"),
        (_with(postprocess={"version": "1"}), "config.postprocess.name"),
        (_with(metadata="owner"), "config.metadata"),
        (_with(metadata={"x": float("-inf")}), "config.metadata.x"),
    ],
)
def test_errors_name_the_field(config: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_config(config)
    assert info.value.field == field
    assert field in info.value.message
