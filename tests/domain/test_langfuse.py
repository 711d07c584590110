"""The Langfuse mappings: key pairs, labels, config and chat placeholders, both ways."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain import langfuse as lf
from promptstage.domain.config import parse_config
from promptstage.errors import InvalidInputError

hexes = st.text("0123456789abcdef", min_size=1, max_size=64)


@given(hexes, hexes)
def test_a_key_pair_is_the_key(prefix: str, secret: str) -> None:
    token = f"ps_{prefix}_{secret}"
    public, secret_key = lf.key_pair(token)
    assert public.startswith("pk-lf-") and secret_key.startswith("sk-lf-")
    assert lf.token_of_pair(public, secret_key) == token


@pytest.mark.parametrize(
    ("public", "secret"),
    [("pk-lf-", "sk-lf-x"), ("pk-lf-a", "sk-lf-"), ("pk-a", "sk-lf-b"), ("pk-lf-a_b", "sk-lf-c")],
)
def test_what_is_not_a_pair_maps_to_nothing(public: str, secret: str) -> None:
    assert lf.token_of_pair(public, secret) is None


def test_labels_map_production_both_ways() -> None:
    assert lf.label_in("production", "prod") == "prod"
    assert lf.label_out("prod", "prod") == "production"
    assert lf.label_in("staging", "prod") == lf.label_out("staging", "prod") == "staging"
    assert lf.version_labels(3, {"prod": 3, "latest": 3, "dev": 2}, "prod") == [
        "production",
        "latest",
    ]


json_leaf = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
models = st.sampled_from(
    ["gpt-4o", "gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022", "openai/gpt-4o", "my-model"]
)
langfuse_configs = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 4096),
        "stop": st.lists(st.text(min_size=1, max_size=3), max_size=2),
        "supported_languages": st.lists(st.sampled_from(["en", "de"]), max_size=2),
        "custom": json_value,
    },
)


@settings(deadline=None)
@given(langfuse_configs)
def test_a_langfuse_config_survives_the_round_trip(config: dict[str, Any]) -> None:
    ours = parse_config(lf.config_in(config))  # what the store keeps
    assert lf.config_out(ours) == config


def test_config_fields_land_where_they_map() -> None:
    ours = parse_config(
        lf.config_in(
            {
                "model": "claude-3-5-sonnet-20241022",
                "temperature": 0.2,
                "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
                "json_schema": {"type": "object"},
            }
        )
    )
    assert ours["model"] == {
        "provider": "anthropic",
        "name": "claude-3-5-sonnet-20241022",
        "version": "20241022",
    }
    assert ours["params"] == {"temperature": 0.2}
    assert [t["name"] for t in ours["tools"]] == ["lookup"]
    assert ours["metadata"]["langfuse"]["config"] == {
        "model": "claude-3-5-sonnet-20241022",
        "json_schema": {"type": "object"},
    }


def test_our_config_is_presented_field_by_field() -> None:
    ours = parse_config(
        {
            "model": {"provider": "azure", "name": "gpt-4o", "version": "2024-05-13"},
            "params": {"temperature": 0},
            "metadata": {"team": "care"},
        }
    )
    assert lf.config_out(ours) == {
        "model": "gpt-4o",
        "provider": "azure",
        "model_version": "2024-05-13",
        "temperature": 0,
        "metadata": {"team": "care"},
    }


def test_no_model_is_an_unknown_unpinned_model() -> None:
    assert parse_config(lf.config_in(None))["model"] == lf.UNKNOWN_MODEL
    assert lf.config_out(parse_config(lf.config_in({}))) == {}


@pytest.mark.parametrize(
    ("config", "field"),
    [([], "config"), ({"model": ""}, "config.model"), ({"tools": "x"}, "config.tools")],
)
def test_bad_configs_name_the_field(config: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        lf.config_in(config)
    assert info.value.field == field


message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=10)}
)
item = message.map(lambda m: {"type": "chatmessage", **m}) | st.builds(
    lambda n: {"type": "placeholder", "name": n}, st.from_regex(r"[a-z]{1,6}", fullmatch=True)
)


@given(st.lists(item, max_size=6).filter(lambda xs: any(x["type"] == "chatmessage" for x in xs)))
def test_chat_placeholders_return_to_their_places(prompt: list[dict[str, Any]]) -> None:
    messages, placeholders = lf.messages_in(prompt)
    config = {"metadata": {"langfuse": {"placeholders": placeholders}}}
    assert lf.messages_out(messages, config) == prompt


def test_a_chat_prompt_of_placeholders_only_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least one message"):
        lf.messages_in([{"type": "placeholder", "name": "h"}])
