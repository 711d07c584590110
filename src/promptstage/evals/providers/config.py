"""Provider settings as one value, and ``open_provider``: the client for a snapshot's model.

``evals`` sits below ``settings`` in the layers, so it never imports ``Settings``;
``ProviderConfig.from_settings`` reads any object with the ``eval_*`` attributes
(``promptstage.settings.Settings`` has them). API keys are read from the environment variable
each setting names, at the moment a provider is opened; they are never stored in this value.
"""

from __future__ import annotations

import asyncio
import os
import random as _random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from promptstage.errors import ConfigurationError

from .anthropic_messages import AnthropicMessagesProvider
from .base import Provider
from .openai_chat import OpenAIChatProvider
from .pricing import Price, price_table
from .retry import RetryPolicy, Sleep

# config.model.provider values served by the OpenAI-compatible client.
OPENAI_COMPATIBLE = frozenset({"openai", "azure", "azure-openai", "vllm", "ollama", "litellm"})
ANTHROPIC = frozenset({"anthropic"})


class EvalSettings(Protocol):
    """The settings ``ProviderConfig.from_settings`` reads."""

    @property
    def eval_openai_base_url(self) -> str: ...
    @property
    def eval_openai_api_key_env(self) -> str: ...
    @property
    def eval_anthropic_base_url(self) -> str: ...
    @property
    def eval_anthropic_api_key_env(self) -> str: ...
    @property
    def eval_timeout_seconds(self) -> float: ...
    @property
    def eval_max_attempts(self) -> int: ...
    @property
    def eval_backoff_seconds(self) -> float: ...
    @property
    def eval_max_wait_seconds(self) -> float: ...
    @property
    def eval_prices(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Endpoints, the names of the key variables, the retry policy and the price table."""

    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key_env: str = "OPENAI_API_KEY"
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key_env: str = "ANTHROPIC_API_KEY"
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    prices: Mapping[str, Price] = field(default_factory=price_table)

    @classmethod
    def from_settings(cls, settings: EvalSettings) -> ProviderConfig:
        """Build from the ``eval_*`` settings.

        Raises:
            ConfigurationError: a bad price entry, attempts below 1, a timeout not above 0.
        """
        return cls(
            openai_base_url=settings.eval_openai_base_url,
            openai_api_key_env=settings.eval_openai_api_key_env,
            anthropic_base_url=settings.eval_anthropic_base_url,
            anthropic_api_key_env=settings.eval_anthropic_api_key_env,
            policy=RetryPolicy(
                max_attempts=settings.eval_max_attempts,
                timeout_seconds=settings.eval_timeout_seconds,
                backoff_seconds=settings.eval_backoff_seconds,
                max_wait_seconds=settings.eval_max_wait_seconds,
            ),
            prices=price_table(settings.eval_prices),
        )


NO_KEY = frozenset({"", "none"})  # values of ..._API_KEY_ENV that mean "send no key"


def _api_key(env_name: str, setting: str, environ: Mapping[str, str]) -> str | None:
    """The key in the variable ``env_name`` names; ``None`` (send no key) when ``env_name`` is
    ``none`` (any case) or blank. ``none`` is the spelling that works from the environment:
    ``Settings.from_env`` skips empty values, so a blank variable keeps the default name."""
    if env_name.strip().lower() in NO_KEY:
        return None
    value = environ.get(env_name)
    if not value:
        raise ConfigurationError(
            f"the environment variable {env_name} (named by {setting}) is not set: export the "
            f"provider's API key in it, or set {setting} to another variable name (none: no key, "
            "for a local vLLM or Ollama)",
            field=setting,
        )
    return value


def open_provider(
    provider: str,
    config: ProviderConfig,
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Sleep = asyncio.sleep,
    random: Callable[[], float] = _random.random,
) -> Provider:
    """The client for ``provider`` (a snapshot's ``config.model.provider``).

    Raises:
        ConfigurationError: an unknown provider, or its key variable is not set.
    """
    env = os.environ if environ is None else environ
    prices = dict(config.prices)
    if provider in OPENAI_COMPATIBLE:
        return OpenAIChatProvider(
            base_url=config.openai_base_url,
            api_key=_api_key(config.openai_api_key_env, "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV", env),
            policy=config.policy,
            prices=prices,
            sleep=sleep,
            random=random,
        )
    if provider in ANTHROPIC:
        return AnthropicMessagesProvider(
            base_url=config.anthropic_base_url,
            api_key=_api_key(
                config.anthropic_api_key_env, "PROMPTSTAGE_EVAL_ANTHROPIC_API_KEY_ENV", env
            ),
            policy=config.policy,
            prices=prices,
            sleep=sleep,
            random=random,
        )
    known = sorted(OPENAI_COMPATIBLE | ANTHROPIC)
    raise ConfigurationError(
        f"config.model.provider {provider!r} has no eval client; use one of {known} "
        "(any OpenAI-compatible endpoint works as 'openai' with PROMPTSTAGE_EVAL_OPENAI_BASE_URL)",
        field="config.model.provider",
    )
