"""Building providers against the fake model, with a recorded sleep and no jitter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptstage.domain.config import Config, ModelRef
from promptstage.evals.providers import (
    Outcome,
    Provider,
    ProviderConfig,
    RenderedPrompt,
    RetryPolicy,
    open_provider,
    price_table,
)
from support.fake_model import FakeModel

KEY = "sk-test-0123456789abcdefSECRET"
SYSTEM = "You are the clinic assistant. Canary: CANARY-7f3a9c1e2b. Customer: ana@example.org"
PROMPT = RenderedPrompt.from_render(
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hello there"}]
)
TOOLS = [
    {
        "name": "lookup_order",
        "description": "Find an order",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    }
]


def config(model: str, provider: str = "openai", **params: Any) -> Config:
    return Config.from_dict(
        {
            "model": {"provider": provider, "name": model, "version": "1"},
            "params": {"temperature": 0, "max_tokens": 64, **params},
            "tools": TOOLS,
        }
    )


@dataclass
class Sleeps:
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider(
    kind: str,
    fake: FakeModel,
    *,
    sleeps: Sleeps | None = None,
    key: str = KEY,
    prices: str = "fake-refuse=1/2",
    **policy: Any,
) -> Provider:
    cfg = ProviderConfig(
        openai_base_url=fake.openai_base_url,
        openai_api_key_env="FAKE_MODEL_KEY",
        anthropic_base_url=fake.anthropic_base_url,
        anthropic_api_key_env="FAKE_MODEL_KEY",
        policy=RetryPolicy(
            **{"max_attempts": 3, "timeout_seconds": 5.0, "backoff_seconds": 0.5, **policy}
        ),
        prices=price_table(prices),
    )
    return open_provider(
        kind, cfg, environ={"FAKE_MODEL_KEY": key}, sleep=sleeps or Sleeps(), random=lambda: 0.0
    )


async def complete(
    kind: str,
    fake: FakeModel,
    model: str,
    *,
    prompt: RenderedPrompt = PROMPT,
    override: ModelRef | None = None,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> Outcome:
    client = provider(kind, fake, **options)
    try:
        return await client.complete(prompt, config(model, kind, **(params or {})), model=override)
    finally:
        await client.aclose()
