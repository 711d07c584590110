"""OpenAI-compatible chat completions through the official ``openai`` package.

One client speaks to OpenAI, Azure OpenAI (its ``/openai/v1/`` endpoint), vLLM, Ollama and
LiteLLM: only ``base_url`` differs. The SDK's retries are off; ``retry.py`` is the policy.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Callable
from typing import Any

from promptstage.domain.config import Config, ModelRef

from .base import Redactor, classify, malformed, parse_tool_arguments, reserved_params_error
from .pricing import Price, cost
from .retry import RetryPolicy, Sleep, attempt_with_retries
from .types import Completion, Outcome, RenderedPrompt


class OpenAIChatProvider:
    """A ``Provider`` over ``POST {base_url}/chat/completions``."""

    name = "openai"

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
        import openai

        self._sdk = openai
        # A local server (vLLM, Ollama) needs no key; the SDK insists on a string.
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "no-key",
            max_retries=0,
            timeout=policy.timeout_seconds,
        )

    def __repr__(self) -> str:
        return f"OpenAIChatProvider(base_url={self.base_url!r})"

    async def complete(
        self, prompt: RenderedPrompt, config: Config, *, model: ModelRef | None = None
    ) -> Outcome:
        """Run ``prompt`` against ``model`` (default ``config.model``); see ``Provider``."""
        reserved = reserved_params_error(config.params, self.name)
        if reserved is not None:
            return reserved
        target = model or config.model
        messages: list[dict[str, Any]] = []
        if prompt.system is not None:
            messages.append({"role": "system", "content": prompt.system})
        messages.extend({"role": m.role, "content": m.content} for m in prompt.messages)
        tools = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in config.tools
        ]
        request: dict[str, Any] = {"model": target.name, "messages": messages}
        if tools:
            request["tools"] = tools

        async def send() -> Outcome:
            return await self._send(request, dict(config.params), target)

        return await attempt_with_retries(
            send, self._policy, provider=self.name, sleep=self._sleep, random=self._random
        )

    async def _send(
        self, request: dict[str, Any], params: dict[str, Any], target: ModelRef
    ) -> Outcome:
        started = self._clock()
        try:
            response = await self._client.chat.completions.create(**request, extra_body=params)
        except Exception as exc:
            error = classify(
                exc, self._sdk, provider=self.name, redact=self._redact, now=self._wall_clock()
            )
            if error is None:
                raise
            return error
        latency = self._clock() - started
        try:
            choice = response.choices[0]
            message = choice.message
            calls = tuple(
                parse_tool_arguments(call.function.name, call.function.arguments or "")
                for call in message.tool_calls or ()
                if getattr(call, "function", None) is not None
            )
            usage = response.usage
            input_tokens = usage.prompt_tokens if usage is not None else None
            output_tokens = usage.completion_tokens if usage is not None else None
            reported = str(response.model or target.name)
            text = message.content or ""
            if not isinstance(text, str):
                raise TypeError("message.content is not a string")
            finish = choice.finish_reason
        except (AttributeError, IndexError, TypeError, KeyError) as exc:
            return malformed(f"{type(exc).__name__}: {exc}", self.name, self._redact)
        return Completion(
            text=text,
            tool_calls=calls,
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
