"""The API key is read from the variable a setting names, and never reaches a log, a repr, an
exception or a result, even when the endpoint repeats it in its error message."""

from __future__ import annotations

import asyncio
import logging

import pytest

from promptstage.errors import ConfigurationError
from promptstage.evals.providers import (
    Completion,
    ErrorKind,
    ProviderConfig,
    ProviderError,
    open_provider,
)
from support.fake_model import running_fake_model

from .providers_helpers import KEY, complete, provider

KINDS = ["openai", "anthropic"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_key_is_sent_and_never_logged_or_shown(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with running_fake_model("refuse", api_key=KEY) as server:
        good = asyncio.run(complete(kind, server, "fake-refuse"))
        wrong_key = "sk-wrong-9876543210zyxwvuSECRET"
        bad = asyncio.run(complete(kind, server, "fake-refuse", key=wrong_key))
        shown = repr(provider(kind, server))
    assert isinstance(good, Completion)  # the right key was sent
    assert isinstance(bad, ProviderError) and bad.kind is ErrorKind.AUTH and bad.status == 401
    assert "Incorrect API key provided: [redacted]" in bad.message
    assert caplog.records, "the clients logged nothing at DEBUG: this test would prove nothing"
    for text in (caplog.text, repr(bad), str(bad), bad.message, shown, repr(good)):
        assert KEY not in text and wrong_key not in text


def test_the_config_holds_the_variable_name_not_the_key() -> None:
    config = ProviderConfig(openai_api_key_env="MY_OPENAI_KEY")
    assert "MY_OPENAI_KEY" in repr(config)
    client = open_provider("openai", config, environ={"MY_OPENAI_KEY": KEY})
    assert KEY not in repr(client) and KEY not in repr(
        vars(client) if hasattr(client, "__dict__") else ""
    )


def test_a_missing_key_variable_names_the_variable_and_the_setting() -> None:
    config = ProviderConfig(anthropic_api_key_env="MY_ANTHROPIC_KEY")
    with pytest.raises(ConfigurationError) as caught:
        open_provider("anthropic", config, environ={})
    assert "MY_ANTHROPIC_KEY" in caught.value.message
    assert caught.value.field == "PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV"


def test_a_blank_variable_name_sends_no_key_for_local_servers() -> None:
    client = open_provider("ollama", ProviderConfig(openai_api_key_env=""), environ={})
    assert client.name == "openai"


def test_none_from_the_environment_sends_no_key() -> None:
    """A blank variable is skipped by ``Settings.from_env`` (the default name stays, and a run
    fails on its missing key); ``none`` is how the environment says "no key"."""
    from promptstage.settings import Settings

    blank = Settings.from_env({"PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV": ""})
    with pytest.raises(ConfigurationError) as caught:
        open_provider("openai", ProviderConfig.from_settings(blank), environ={})
    assert "OPENAI_API_KEY" in caught.value.message and "none" in caught.value.message
    for kind, setting in (
        ("openai", "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV"),
        ("anthropic", "PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV"),
    ):
        settings = Settings.from_env({setting: "None"})
        client = open_provider(kind, ProviderConfig.from_settings(settings), environ={})
        assert client.name == kind


def test_an_unknown_provider_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        open_provider("bard", ProviderConfig(), environ={})
    assert caught.value.field == "config.model.provider" and "openai" in caught.value.message


def test_provider_config_from_the_settings_environment() -> None:
    from promptstage.evals.providers import Provider, RetryPolicy
    from promptstage.settings import Settings

    settings = Settings.from_env(
        {
            "PROMPTSTAGE_EVAL_OPENAI_BASE_URL": "http://127.0.0.1:8790/v1",
            "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV": "LOCAL_KEY",
            "PROMPTSTAGE_EVAL_TIMEOUT_SECONDS": "2.5",
            "PROMPTSTAGE_EVAL_MAX_ATTEMPTS": "2",
            "PROMPTSTAGE_EVAL_PRICES": "fake-refuse=1/2",
        }
    )
    config = ProviderConfig.from_settings(settings)
    assert config.openai_base_url == "http://127.0.0.1:8790/v1"
    assert config.policy == RetryPolicy(max_attempts=2, timeout_seconds=2.5)
    assert config.prices["fake-refuse"].output_per_million == 2
    assert settings.eval_concurrency == 8
    for kind in ("openai", "anthropic"):
        client = open_provider(kind, config, environ={"LOCAL_KEY": KEY, "ANTHROPIC_API_KEY": KEY})
        assert isinstance(client, Provider) and client.name == kind
    with pytest.raises(ConfigurationError):
        ProviderConfig.from_settings(Settings(eval_prices="gpt-4o"))
