"""Model providers for eval runs: the only part of ``evals`` that does I/O.

``open_provider(config.model.provider, ProviderConfig.from_settings(settings))`` gives a
``Provider``; ``await provider.complete(RenderedPrompt.from_render(rendered), config)`` gives a
``Completion`` or a ``ProviderError`` (never an exception for what the endpoint did);
``run_all`` bounds how many are in flight.
"""

from __future__ import annotations

from .anthropic_messages import AnthropicMessagesProvider
from .base import Provider
from .config import ProviderConfig, open_provider
from .openai_chat import OpenAIChatProvider
from .pricing import DEFAULT_PRICES, Price, cost, parse_prices, price_table
from .retry import RetryPolicy, retry_after_seconds
from .runner import run_all
from .types import (
    Completion,
    ErrorKind,
    Message,
    Outcome,
    ProviderError,
    RenderedPrompt,
    ToolCall,
)

__all__ = [
    "DEFAULT_PRICES",
    "AnthropicMessagesProvider",
    "Completion",
    "ErrorKind",
    "Message",
    "OpenAIChatProvider",
    "Outcome",
    "Price",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "RenderedPrompt",
    "RetryPolicy",
    "ToolCall",
    "cost",
    "open_provider",
    "parse_prices",
    "price_table",
    "retry_after_seconds",
    "run_all",
]
