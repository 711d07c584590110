"""Anthropic's Messages API through the official ``anthropic`` package.

``max_tokens`` is required by the API: the snapshot's ``params.max_tokens``, else
``DEFAULT_MAX_TOKENS`` (documented in docs/evals.md). The SDK's retries are off.
"""

from __future__ import annotations

import asyncio
import json
import random as _random
import time
from collections.abc import Callable
from typing import Any

from promptstage.domain.config import Config, ModelRef

from .base import Redactor, classify, malformed, reserved_params_error
from .pricing import Price, cost
from .retry import RetryPolicy, Sleep, attempt_with_retries
from .types import Completion, ErrorKind, Outcome, ProviderError, RenderedPrompt, ToolCall

DEFAULT_MAX_TOKENS = 1024


class AnthropicMessagesProvider:
    """A ``Provider`` over ``POST {base_url}/v1/messages``."""

    name = "anthropic"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        policy: RetryPolicy,
        prices: dict[str, Price],
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url
        self._redact = Redactor(api_key)
        self._policy = policy
        self._prices = prices
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._wall_clock = wall_clock
        # Imported here, not with the module: the SDK takes about a second and tens of MB to
        # import, and only a server that runs evals opens a provider.
        import anthropic

        self._sdk = anthropic
        self._client = anthropic.AsyncAnthropic(
            base_url=base_url,
            api_key=api_key or "no-key",
            max_retries=0,
            timeout=policy.timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"AnthropicMessagesProvider(base_url={self.base_url!r})"

    async def complete(
        self, prompt: RenderedPrompt, config: Config, *, model: ModelRef | None = None
    ) -> Outcome:
        """Run ``prompt`` against ``model`` (default ``config.model``); see ``Provider``."""
        reserved = reserved_params_error(config.params, self.name)
        if reserved is not None:
            return reserved
        if not prompt.messages:
            return ProviderError(
                ErrorKind.REQUEST,
                "the Messages API needs at least one user message after the system prompt; "
                "add a user message to the chat template or the case",
                self.name,
            )
        target = model or config.model
        params = dict(config.params)
        max_tokens = params.pop("max_tokens", DEFAULT_MAX_TOKENS)
        request: dict[str, Any] = {
            "model": target.name,
            "max_tokens": max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
        }
        if prompt.system is not None:
            request["system"] = prompt.system
        if config.tools:
            request["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in config.tools
            ]

        async def send() -> Outcome:
            return await self._send(request, params, target)

        return await attempt_with_retries(
            send, self._policy, provider=self.name, sleep=self._sleep, random=self._random
        )

    async def _send(
        self, request: dict[str, Any], params: dict[str, Any], target: ModelRef
    ) -> Outcome:
        started = self._clock()
        try:
            response = await self._client.messages.create(**request, extra_body=params)
        except Exception as exc:
            error = classify(
                exc, self._sdk, provider=self.name, redact=self._redact, now=self._wall_clock()
            )
            if error is None:
                raise
            return error
        latency = self._clock() - started
        try:
            texts: list[str] = []
            calls: list[ToolCall] = []
            for block in response.content:
                if block.type == "text":
                    texts.append(block.text)
                elif block.type == "tool_use":
                    arguments = block.input
                    if not isinstance(arguments, dict):
                        raise TypeError("tool_use.input is not an object")
                    calls.append(ToolCall(block.name, json.dumps(arguments), dict(arguments)))
            usage = response.usage
            input_tokens = int(usage.input_tokens)
            output_tokens = int(usage.output_tokens)
            reported = str(response.model or target.name)
            finish = response.stop_reason
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            return malformed(f"{type(exc).__name__}: {exc}", self.name, self._redact)
        return Completion(
            text="".join(texts),
            tool_calls=tuple(calls),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost(self._prices, (target.name, reported), input_tokens, output_tokens),
            latency_seconds=latency,
            model=reported,
            finish_reason=str(finish) if finish is not None else None,
            provider=self.name,
        )

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self._client.close()
