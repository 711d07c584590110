"""What drift detection costs call ingest, and how long an impact query takes.

Call ingest (``service.calls.ingest_calls``, the work behind ``POST /calls``) of batches of
``--batch`` calls, three kinds interleaved one-for-one in each round: calls that report nothing
(the baseline: the path before drift detection), calls reporting the pinned model and index
(compared, nothing counted) and calls reporting another model (compared and counted). The
ratio to the baseline is what drift detection adds per batch. Then an impact query
(``deps.impact``, a scan of the project's versions) over ``--versions`` versions. Medians over
``--rounds`` rounds; SQLite in a tempdir, Postgres in a fresh database (skipped when
unreachable)::

    .venv/bin/python benchmarks/bench_deps.py                       # 7 rounds, batches of 500
    .venv/bin/python benchmarks/bench_deps.py --rounds 3 --no-postgres
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "bench"
CONFIG = {"model": {"model": "openai/gpt-4o@2024-08-06"}, "retrieval": {"index": "kb@7"}}


def prepare(ctx: Any, versions: int) -> str:
    from promptstage.service import deps, prompts

    prompts.create_project(ctx, "bench", PROJECT)
    deps.register(ctx, "bench", PROJECT, "model", "openai/gpt-4o", "2024-08-06")
    deps.register(ctx, "bench", PROJECT, "index", "kb", "7")
    for p in range(max(1, versions // 10)):
        prompts.create_prompt(ctx, "bench", PROJECT, f"agent{p}", "text")
        for n in range(10):
            prompts.write_version(
                ctx, "bench", PROJECT, f"agent{p}", template=f"v{n}", config=CONFIG
            )
    digest: str = prompts.get_version(ctx, PROJECT, "agent0", 1).digest
    return digest


def batch(kind: str, size: int, digest: str) -> dict[str, Any]:
    extra = {
        "none": {},
        "matching": {"model": "gpt-4o-2024-08-06", "index": "kb@7"},
        "drifted": {"model": "gpt-4o-2024-11-20", "index": "kb@7"},
    }[kind]
    return {"calls": [{"id": uuid.uuid4().hex, "prompt": "agent0", "label": "prod", "version": 1,
                       "digest": digest, **extra} for _ in range(size)]}  # fmt: skip


def run(url: str, rounds: int, size: int, versions: int) -> list[list[Any]]:
    from promptstage.domain.deps import parse_spec
    from promptstage.service import calls, deps

    store, ctx = c.open_context(url)
    try:
        digest = prepare(ctx, versions)
        times: dict[str, list[float]] = {"none": [], "matching": [], "drifted": []}
        for _ in range(2):  # warm-up
            for kind in times:
                calls.ingest_calls(ctx, PROJECT, batch(kind, size, digest))
        for _ in range(rounds):
            for kind in times:
                body = batch(kind, size, digest)
                t = time.perf_counter()
                calls.ingest_calls(ctx, PROJECT, body)
                times[kind].append(time.perf_counter() - t)
        impact: list[float] = []
        for _ in range(rounds):
            t = time.perf_counter()
            found = deps.impact(ctx, PROJECT, parse_spec("index:kb@7"))
            impact.append(time.perf_counter() - t)
        assert len(found.versions) == max(1, versions // 10) * 10
    finally:
        store.close()
    base = c.median(times["none"])
    rows = [
        [f"ingest {size} calls: {kind}", c.fmt(c.median(v) * 1e3), c.fmt(c.median(v) / base)]
        for kind, v in times.items()
    ]
    rows.append([f"impact query over {max(1, versions // 10) * 10} versions",
                 c.fmt(c.median(impact) * 1e3), "-"])  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(c.machine())
    with c.tempdir() as folder:
        rows = run(c.sqlite_url(folder), args.rounds, args.batch, args.versions)
        c.print_table("SQLite (median ms; ratio to ingest without reports)",
                      ["operation", "ms", "ratio"], rows)  # fmt: skip
    if not args.no_postgres:
        with c.postgres_database() as url:
            if url is None:
                c.log("Postgres unreachable: skipped")
                return
            rows = run(url, args.rounds, args.batch, args.versions)
            c.print_table("Postgres (median ms; ratio to ingest without reports)",
                          ["operation", "ms", "ratio"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
