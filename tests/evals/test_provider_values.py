"""The pure parts of the providers: Retry-After, backoff, prices, rendered prompts."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import ConfigurationError, InvalidInputError
from promptstage.evals.providers import (
    DEFAULT_PRICES,
    Message,
    Price,
    RenderedPrompt,
    RetryPolicy,
    cost,
    parse_prices,
    price_table,
    retry_after_seconds,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": email.utils.formatdate(NOW + 42, usegmt=True)}, 42.0),
        ({"retry-after": email.utils.formatdate(NOW - 42, usegmt=True)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, NOW) == expected


def test_retry_after_is_obeyed_exactly_and_capped() -> None:
    policy = RetryPolicy(max_wait_seconds=10)
    assert policy.wait(1, 7.0, lambda: 0.9) == 7.0
    assert policy.wait(1, 11.0, lambda: 0.0) is None


@given(
    attempt=st.integers(1, 30),
    jitter=st.floats(0, 1, exclude_max=True),
    backoff=st.floats(0.01, 10),
)
def test_backoff_doubles_is_capped_and_jitter_takes_at_most_half(
    attempt: int, jitter: float, backoff: float
) -> None:
    policy = RetryPolicy(backoff_seconds=backoff, max_wait_seconds=60)
    base = min(60, backoff * 2 ** (attempt - 1))
    wait = policy.wait(attempt, None, lambda: jitter)
    assert wait is not None and base / 2 - 1e-9 <= wait <= base + 1e-9


def test_a_policy_without_attempts_or_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConfigurationError):
        RetryPolicy(timeout_seconds=0)


def test_prices_parse_override_and_unknown_models_cost_none() -> None:
    assert parse_prices(" my-model = 1.5/3 , other=0/0,") == {
        "my-model": Price(1.5, 3.0),
        "other": Price(0.0, 0.0),
    }
    table = price_table("gpt-4o=1/1")
    assert table["gpt-4o"] == Price(1, 1) and table["gpt-4o-mini"] == DEFAULT_PRICES["gpt-4o-mini"]
    assert cost(table, ("gpt-4o",), 1_000_000, 2_000_000) == pytest.approx(3.0)
    assert cost(table, ("nobody", "gpt-4o"), 10, 0) == pytest.approx(1e-5)  # the reported name
    assert cost(table, ("nobody",), 10, 10) is None
    assert cost(table, ("gpt-4o",), None, 10) is None
    assert cost(price_table("free=0/0"), ("free",), 10, 10) == 0.0


@pytest.mark.parametrize("entry", ["gpt-4o", "gpt-4o=1", "=1/2", "m=a/b", "m=-1/2", "m=inf/1"])
def test_bad_price_entries_name_the_setting(entry: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_prices(entry)
    assert caught.value.field == "PROMPTSTAGE_EVAL_PRICES"


def test_rendered_prompt_from_text_and_chat_templates() -> None:
    assert RenderedPrompt.from_render("hi") == RenderedPrompt(None, (Message("user", "hi"),))
    chat = RenderedPrompt.from_render(
        [
            {"role": "system", "content": "a"},
            {"role": "user", "content": "q"},
            {"role": "system", "content": "b"},
            {"role": "assistant", "content": "r"},
        ]
    )
    assert chat.system == "a\n\nb"
    assert chat.messages == (Message("user", "q"), Message("assistant", "r"))
    with pytest.raises(InvalidInputError):
        RenderedPrompt.from_render([{"role": "user", "content": 3}])
