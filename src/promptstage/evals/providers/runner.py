"""``run_all``: run many cases with at most ``concurrency`` in flight, results in case order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from promptstage.errors import ConfigurationError

T = TypeVar("T")


async def run_all(
    cases: Sequence[Callable[[], Awaitable[T]]],
    concurrency: int,
    *,
    on_done: Callable[[int, T], None] | None = None,
) -> list[T]:
    """Await every case (a zero-argument coroutine function), ``concurrency`` at a time.

    ``on_done(index, result)`` runs as each case finishes (progress). A case that raises is a
    bug, not a model failure (providers return ``ProviderError`` values): the other cases are
    cancelled and the exception propagates (an ``ExceptionGroup`` only when several failed), so a run never passes with a hole in it.

    Raises:
        ConfigurationError: ``concurrency`` is below 1.
    """
    if concurrency < 1:
        raise ConfigurationError(
            "PROMPTSTAGE_EVAL_CONCURRENCY must be at least 1", field="PROMPTSTAGE_EVAL_CONCURRENCY"
        )
    gate = asyncio.Semaphore(concurrency)
    results: list[T | None] = [None] * len(cases)

    async def one(index: int, case: Callable[[], Awaitable[T]]) -> None:
        async with gate:
            result = await case()
        results[index] = result
        if on_done is not None:
            on_done(index, result)

    try:
        async with asyncio.TaskGroup() as group:
            for index, case in enumerate(cases):
                group.create_task(one(index, case))
    except ExceptionGroup as failed:  # one failing case: raise it as itself
        if len(failed.exceptions) == 1:
            raise failed.exceptions[0] from None
        raise
    return results  # type: ignore[return-value]  # every slot was filled or the group raised
