"""``run_all``: the concurrency bound (counted at the fake server), order, progress, failures."""

from __future__ import annotations

import asyncio

import pytest

from promptstage.errors import ConfigurationError
from promptstage.evals.providers import Completion, run_all
from support.fake_model import running_fake_model

from .providers_helpers import PROMPT, config, provider


@pytest.mark.parametrize(("kind", "concurrency"), [("openai", 4), ("anthropic", 3), ("openai", 1)])
def test_the_server_never_sees_more_than_the_limit_in_flight(kind: str, concurrency: int) -> None:
    with running_fake_model("slow", slow_seconds=0.2) as server:

        async def main() -> list[object]:
            client = provider(kind, server)
            try:
                cases = [
                    lambda: client.complete(PROMPT, config("fake-slow", kind)) for _ in range(8)
                ]
                return await run_all(cases, concurrency)
            finally:
                await client.aclose()

        results = asyncio.run(main())
        assert server.state.requests == 8
        # 8 cases of 200 ms each: every slot fills, and never one more
        assert server.state.max_in_flight == concurrency
    assert all(isinstance(r, Completion) for r in results)


def test_results_keep_the_case_order_and_progress_is_reported() -> None:
    done: list[int] = []

    def case(i: int) -> object:
        async def run() -> int:
            await asyncio.sleep(0.001 * (10 - i))  # later cases finish first
            return i * i

        return run

    results = asyncio.run(
        run_all([case(i) for i in range(10)], 3, on_done=lambda i, _: done.append(i))
    )
    assert results == [i * i for i in range(10)]
    assert sorted(done) == list(range(10))


def test_a_case_that_raises_cancels_the_others_and_propagates() -> None:
    started: list[int] = []
    finished: list[int] = []

    def case(i: int) -> object:
        async def run() -> int:
            started.append(i)
            if i == 1:
                raise RuntimeError("grader bug")
            await asyncio.sleep(5)
            finished.append(i)
            return i

        return run

    with pytest.raises(RuntimeError, match="grader bug"):
        asyncio.run(run_all([case(i) for i in range(6)], 2))
    assert finished == [] and len(started) <= 3


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        asyncio.run(run_all([], 0))
