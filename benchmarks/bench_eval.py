"""Eval runner throughput: cases per second through ``run_all`` and a provider against the local
fake model (behaviour ``refuse``), at concurrency 1, 8 and 32, beside the same number of bare
``openai`` client calls to the same fake server in the same run (issue 13: the runner within
1.5x of the bare calls at concurrency 8).

The fake model runs in its own uvicorn process (``promptstage.cli.fake_model:fake_model_app``),
so the client's event loop does not share a thread with it. Each round measures, for every
concurrency, the bare client (``AsyncOpenAI(max_retries=0)`` and an ``asyncio.Semaphore``)
and then the runner (``run_all`` over ``OpenAIChatProvider.complete``: request built from a
``Config`` snapshot, our retry loop and timeout, response parsed into a ``Completion`` with
tool calls, tokens and cost), each on a fresh client; the table gives medians over the rounds
and ``runner / bare`` = bare cases/s divided by runner cases/s (the runner's overhead)::

    .venv/bin/python benchmarks/bench_eval.py                    # 5 rounds x 200 cases
    .venv/bin/python benchmarks/bench_eval.py --rounds 3 --cases 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

CONCURRENCY = (1, 8, 32)
GOAL = 1.5
SYSTEM = "You are the clinic's booking assistant. Answer briefly."
USER = "Can I book a check-up for next Tuesday morning?"


async def bare(base_url: str, cases: int, concurrency: int) -> float:
    """Seconds for ``cases`` bare ``chat.completions.create`` calls, ``concurrency`` at a time."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, timeout=30)
    gate = asyncio.Semaphore(concurrency)
    messages: Any = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]

    async def one() -> None:
        async with gate:
            await client.chat.completions.create(
                model="fake-refuse", messages=messages, temperature=0, max_tokens=64
            )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(cases)))
        return time.perf_counter() - started
    finally:
        await client.close()


async def runner(base_url: str, cases: int, concurrency: int) -> float:
    """Seconds for ``cases`` through ``run_all`` and the provider, ``concurrency`` at a time."""
    from promptstage.domain.config import Config
    from promptstage.evals.providers import (
        Completion,
        ProviderConfig,
        RenderedPrompt,
        open_provider,
        run_all,
    )

    config = Config.from_dict(
        {
            "model": {"provider": "openai", "name": "fake-refuse", "version": "1"},
            "params": {"temperature": 0, "max_tokens": 64},
            "tools": [],
        }
    )
    prompt = RenderedPrompt.from_render(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    )
    provider = open_provider(
        "openai", ProviderConfig(openai_base_url=base_url, openai_api_key_env=""), environ={}
    )
    try:
        started = time.perf_counter()
        results = await run_all(
            [lambda: provider.complete(prompt, config) for _ in range(cases)], concurrency
        )
        elapsed = time.perf_counter() - started
    finally:
        await provider.aclose()
    assert all(isinstance(r, Completion) for r in results), results[:3]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument("--cases", type=int, default=200, help="cases per measurement (200)")
    args = parser.parse_args()
    print(c.machine())
    port = c.free_port()
    cmd = [
        c.PYTHON,
        "-m",
        "uvicorn",
        "promptstage.cli.fake_model:fake_model_app",
        "--factory",
        "--port",
        str(port),
        *c.UVICORN_FLAGS,
    ]
    env = {**os.environ, "PYTHONPATH": str(c.ROOT / "src")}
    with c.tempdir() as folder, open(folder / "fake.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            import httpx

            base_url = f"http://127.0.0.1:{port}/v1"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.post(f"{base_url}/chat/completions", json={"messages": []})
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the fake model did not start") from None
                    time.sleep(0.1)
            results: dict[tuple[str, int], list[float]] = {}
            asyncio.run(bare(base_url, 20, 4))  # warm up imports and the server
            asyncio.run(runner(base_url, 20, 4))
            for round_ in range(args.rounds):
                c.log(f"round {round_ + 1}/{args.rounds}")
                for concurrency in CONCURRENCY:
                    for name, measure in (("bare", bare), ("runner", runner)):
                        seconds = asyncio.run(measure(base_url, args.cases, concurrency))
                        results.setdefault((name, concurrency), []).append(args.cases / seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    rows = []
    for concurrency in CONCURRENCY:
        bare_cps = c.median(results[("bare", concurrency)])
        run_cps = c.median(results[("runner", concurrency)])
        ratio = bare_cps / run_cps
        goal = f"<= {GOAL}x: {'met' if ratio <= GOAL else 'NOT met'}" if concurrency == 8 else ""
        rows.append(
            [
                concurrency,
                c.fmt(bare_cps),
                c.spread(results[("bare", concurrency)]),
                c.fmt(run_cps),
                c.spread(results[("runner", concurrency)]),
                f"{ratio:.2f}x",
                goal,
            ]
        )
    c.print_table(
        f"Cases/s against the fake model ({args.rounds} rounds x {args.cases} cases, medians)",
        [
            "concurrency",
            "bare openai",
            "spread",
            "run_all + provider",
            "spread",
            "runner / bare",
            "goal",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
