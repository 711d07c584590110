"""Label move latency (SPEC §11): service layer and ``PUT .../labels/{label}`` over HTTP.

For each store (SQLite file in a tempdir; Postgres in a fresh ``promptstage_bench_<hex>``
database, skipped when unreachable) and each round (a fresh process, and a fresh server process
for HTTP), it times ``--moves`` label moves alternating between two versions, interleaved
one-for-one with the baseline: a trivial ``UPDATE`` on the same database in its own transaction
(one round trip, no ORM). The ratio is what audit row + outbox event + label history + checks
cost over that one write. Over HTTP a ``GET /healthz`` round trip on the same keep-alive
connection is timed too (the HTTP stack alone). Figures are the median over rounds of each
round's p50 and p99.

Each HTTP round sends ``--moves`` + 10 writes with one key to a fresh server, which stays under
the default write rate limit (a burst of 600 per key); more would be answered 429 (and stop the
script with that status)::

    .venv/bin/python benchmarks/bench_label_move.py                # 5 rounds x 300 moves
    .venv/bin/python benchmarks/bench_label_move.py --rounds 3 --moves 200 --no-postgres
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT, PROMPT, LABEL = "clinic", "booking.system", "prod"
MOVE_PATH = f"/api/v1/projects/{PROJECT}/prompts/{PROMPT}/labels/{LABEL}"
TIME_LIMIT_S = 30.0  # per measured loop: stop early rather than run away on a slow machine


# setup -------------------------------------------------------------------------------------
def prepare(url: str) -> None:
    """Migrate, seed the demo project (booking.system has versions 1-3), add the baseline table."""
    from promptstage.service import demo

    store, ctx = c.open_context(url)
    try:
        demo.seed_demo(ctx)
        c.create_baseline_table(store.engine)
    finally:
        store.close()


def _summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        name: {"p50": c.percentile(v, 50) * 1e3, "p99": c.percentile(v, 99) * 1e3, "n": len(v)}
        for name, v in samples.items()
    }


def _interleaved(ops: dict[str, Any], moves: int) -> dict[str, dict[str, float]]:
    """Run each op once per iteration, in turn, and time each call."""
    samples: dict[str, list[float]] = {name: [] for name in ops}
    for i in range(10):  # warm-up: connections, statement caches
        for op in ops.values():
            op(i)
    deadline = time.monotonic() + TIME_LIMIT_S
    for i in range(moves):
        for name, op in ops.items():
            t0 = time.perf_counter()
            op(i)
            samples[name].append(time.perf_counter() - t0)
        if time.monotonic() > deadline:
            break
    return _summary(samples)


# one round of the service layer, in a fresh process ------------------------------------------
def direct_round(url: str, moves: int) -> dict[str, dict[str, float]]:
    from promptstage.service.labels import move_label

    store, ctx = c.open_context(url)
    try:
        baseline = c.WriteBaseline(store.engine)

        def move(i: int) -> None:
            if move_label(ctx, "bench", PROJECT, PROMPT, LABEL, 1 + i % 2) is None:
                raise RuntimeError("the move did not change the label")

        return _interleaved({"baseline": lambda i: baseline(), "move": move}, moves)
    finally:
        store.close()


# one round over HTTP against a fresh server process -----------------------------------------
def http_round(url: str, moves: int, folder: Path) -> dict[str, dict[str, float]]:
    from promptstage.store.sql.engine import make_engine

    token = c.admin_token()
    env = {
        "PROMPTSTAGE_DATABASE_URL": url,
        "PROMPTSTAGE_ADMIN_KEY": token,
        "PROMPTSTAGE_LOG_LEVEL": "warning",
        # The move's own cost: no eval runs are seeded, so the gate (default on) would refuse.
        "PROMPTSTAGE_EVAL_GATE": "0",
    }
    engine = make_engine(url)
    try:
        baseline = c.WriteBaseline(engine)
        with c.Server("promptstage", env=env, folder=folder) as server:
            client = c.Http(server.port, token)
            start = client.json("GET", f"/api/v1/projects/{PROJECT}/prompts/{PROMPT}")["labels"][
                LABEL
            ]
            other = 1 if start != 1 else 2

            def move(i: int) -> None:
                target, current = (other, start) if i % 2 == 0 else (start, other)
                body = {"version": target, "expected_version": current}  # prod needs the CAS
                status, data, _ = client.request("PUT", MOVE_PATH, body)
                if status != 200 or b'"changed":true' not in data:
                    raise RuntimeError(f"move -> {status}: {data[:200]!r}")

            def health(i: int) -> None:
                status, _, _ = client.request("GET", "/healthz")
                if status != 200:
                    raise RuntimeError(f"/healthz -> {status}")

            try:
                # an even count of moves (warm-up 10 + moves) leaves the label where it started
                return _interleaved(
                    {"baseline": lambda i: baseline(), "healthz": health, "move": move},
                    moves + moves % 2,
                )
            finally:
                client.close()
    finally:
        engine.dispose()


# driver ------------------------------------------------------------------------------------
def run_backend(name: str, url: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    c.log(f"{name}: seeding")
    prepare(url)
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {"direct": [], "http": []}
    for r in range(args.rounds):
        c.log(f"{name}: round {r + 1}/{args.rounds}")
        rounds["direct"].append(
            c.run_fresh(Path(__file__), ["--worker", url, "--moves", str(args.moves)])
        )
        rounds["http"].append(http_round(url, args.moves, folder))
    return rounds


def _med(rounds: list[dict[str, dict[str, float]]], op: str, stat: str) -> float:
    return c.median([r[op][stat] for r in rounds])


def _row(backend: str, label: str, rounds: list[dict[str, dict[str, float]]], op: str) -> list[Any]:
    """One table row: p50, p99, the ratio to the same run's baseline, the p50 spread."""
    base = _med(rounds, "baseline", "p50")
    p50 = _med(rounds, op, "p50")
    return [
        backend,
        label,
        c.fmt(p50),
        c.fmt(_med(rounds, op, "p99")),
        f"{p50 / base:.1f}x",
        c.spread([r[op]["p50"] for r in rounds]),
    ]


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    rows = []
    move = MOVE_PATH.replace("/api/v1/projects/clinic", "...")
    for backend, rounds in results.items():
        d, h = rounds["direct"], rounds["http"]
        rows += [
            _row(
                backend,
                "baseline: one UPDATE in its own transaction (service-layer run)",
                d,
                "baseline",
            ),
            _row(backend, "move_label() through the service layer", d, "move"),
            _row(backend, "baseline: one UPDATE in its own transaction (HTTP run)", h, "baseline"),
            _row(backend, "GET /healthz over HTTP (keep-alive)", h, "healthz"),
            _row(backend, f"PUT {move} over HTTP", h, "move"),
        ]
    c.print_table(
        f"Label move latency, ms: median over {args.rounds} rounds (fresh processes) of each round's "
        f"p50/p99 over {args.moves} moves alternating between two versions",
        ["store", "operation", "p50 ms", "p99 ms", "p50 / baseline", "p50 range over rounds"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--moves", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(direct_round(args.worker, args.moves)))
        return
    print(f"bench_label_move  {c.machine()}")
    results: dict[str, Any] = {}
    with c.tempdir() as folder:
        results["SQLite"] = run_backend("SQLite", c.sqlite_url(folder), args, folder)
        if not args.no_postgres:
            with c.postgres_database() as pg_url:
                if pg_url is not None:
                    results["Postgres"] = run_backend("Postgres", pg_url, args, folder)
    report(results, args)


if __name__ == "__main__":
    main()
