"""Token prices per model, and the cost of a completion (``None`` for a model not listed).

Prices are US dollars per million tokens, ``input/output``. The setting
``PROMPTSTAGE_EVAL_PRICES`` (``model=in/out,model=in/out``) adds to and overrides the built-in
list below, which holds public list prices and goes stale: set your own for real budgets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from promptstage.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Price:
    input_per_million: float
    output_per_million: float


DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "claude-3-5-haiku-latest": Price(0.80, 4.00),
    "claude-3-5-sonnet-latest": Price(3.00, 15.00),
    "claude-sonnet-4-0": Price(3.00, 15.00),
}


def parse_prices(text: str, field: str = "PROMPTSTAGE_EVAL_PRICES") -> dict[str, Price]:
    """Parse ``model=in/out`` entries separated by commas (blank: none).

    Raises:
        ConfigurationError: an entry is not ``model=in/out`` with non-negative numbers.
    """
    prices: dict[str, Price] = {}
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        model, sep, pair = entry.partition("=")
        inp, slash, out = pair.partition("/")
        try:
            price: Price | None = Price(float(inp), float(out))
        except ValueError:
            price = None
        valid = price is not None and all(
            math.isfinite(v) and v >= 0 for v in (price.input_per_million, price.output_per_million)
        )
        if not sep or not slash or not model.strip() or price is None or not valid:
            raise ConfigurationError(
                f"{field} entry {entry!r} is not model=input/output (USD per million tokens, "
                "e.g. gpt-4o=2.50/10.00)",
                field=field,
            )
        prices[model.strip()] = price
    return prices


def price_table(text: str = "") -> dict[str, Price]:
    """The built-in prices updated with the entries of ``text`` (the setting)."""
    return {**DEFAULT_PRICES, **parse_prices(text)}


def cost(
    prices: Mapping[str, Price],
    models: tuple[str, ...],
    input_tokens: int | None,
    output_tokens: int | None,
) -> float | None:
    """Cost in USD of a call, priced as the first of ``models`` found in ``prices``.

    ``None`` when no name is listed or the provider reported no token counts: unknown is not 0.
    """
    if input_tokens is None or output_tokens is None:
        return None
    for model in models:
        price = prices.get(model)
        if price is not None:
            return (
                input_tokens * price.input_per_million + output_tokens * price.output_per_million
            ) / 1_000_000
    return None
