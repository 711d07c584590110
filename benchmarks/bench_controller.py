"""Release controller look (SPEC §7, issue 4): 100 running releases over 1,000,000 logged calls.

For each store (SQLite file in a tempdir; Postgres in a fresh ``promptstage_bench_<hex>``
database, skipped when unreachable) it builds 100 prompts, each with a running canary release,
and logs ``--calls`` calls spread evenly over the releases as a 5 % canary splits them (5 %
canary, 5 % control arm, 90 % baseline; every one of them is analysed, since the canary is
compared with all the baseline traffic), ``--calls-per-unit`` calls per unit and a
``thumbs_down`` score on ``--score-share`` of them. Each round is a fresh process that times

* **look**: ``controller.run_once`` over all 100 releases (per-arm SQL aggregation of
  ``error_rate``, ``latency_ms``, ``cost`` and every score, the statistics, storing each look);
* **metrics one by one**: the store's ``release_metrics`` called for each release in turn (what
  a look cost before ``releases_metrics`` read a project's releases in one pass);
* **baseline**: ``SELECT count(*)`` of each release's calls through the same index (the least a
  look could read).

With ``--ramp`` every release is a 5 → 25 → 50 % ramp already advanced to its second step: the
first half of each release's calls is logged before the advance, the second half after it by
the same users (at 25 %: 25 % canary, 25 % control, 50 % baseline), so the look also joins each
unit's two steps for the covariance between them (the worst case for that join).

Figures are medians over rounds::

    .venv/bin/python benchmarks/bench_controller.py                    # 5 rounds, 1,000,000 calls
    .venv/bin/python benchmarks/bench_controller.py --calls 200000 --rounds 3 --no-postgres
    .venv/bin/python benchmarks/bench_controller.py --ramp
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "bench"
RELEASES = 100
ACTOR = "bench"


def arm_of(unit: int, step: int) -> str:
    """The arm of a unit at a step of a 5 -> 25 % ramp (buckets in twentieths)."""
    bucket, width = unit % 20, (1, 5)[step]
    if bucket < width:
        return "canary"
    return "control" if 10 <= bucket < 10 + width else "baseline"


def prepare(url: str, calls: int, per_unit: int, score_share: float, ramp: bool) -> None:
    """Migrate, create 100 prompts with a running release each, then bulk-insert the call log."""
    from sqlalchemy import insert

    from promptstage.service import labels, prompts, releases
    from promptstage.store.sql.partitions import ensure_days
    from promptstage.store.sql.rollups import rebuild_rollups
    from promptstage.store.sql.tables import calls as calls_table
    from promptstage.store.sql.tables import scores as scores_table

    store, ctx = c.open_context(url)
    try:
        prompts.create_project(ctx, ACTOR, PROJECT)
        ids = []
        for i in range(RELEASES):
            name = f"agent.{i:03d}"
            prompts.create_prompt(ctx, ACTOR, PROJECT, name, "text")
            for n in (1, 2):
                prompts.write_version(
                    ctx,
                    ACTOR,
                    PROJECT,
                    name,
                    template=f"v{n}",
                    config={"model": {"provider": "x", "name": "y", "version": "1"}},
                )
            labels.move_label(ctx, ACTOR, PROJECT, name, "prod", 1)
            weights = (500, 2500, 5000) if ramp else (500,)
            steps = [
                {"weight_bps": w, "min_duration_seconds": 86400, "min_units": 100} for w in weights
            ]
            release = releases.start_release(
                ctx,
                ACTOR,
                PROJECT,
                prompt=name,
                label="prod",
                candidate_version=2,
                strategy="ramp" if ramp else "canary",
                steps=steps,
            )
            if ramp:
                releases.act(ctx, ACTOR, PROJECT, release.id, "advance")
            ids.append(release.id)
        rng = random.Random(1)
        at = datetime.now(UTC) - timedelta(minutes=5)
        with store.engine.begin() as conn:  # the days' partitions (Postgres)
            ensure_days(conn, {at.date(), (at + timedelta(minutes=10)).date()})
        per_release = calls // RELEASES
        batch_calls: list[dict[str, Any]] = []
        batch_scores: list[dict[str, Any]] = []

        def flush() -> None:
            with store.engine.begin() as conn:
                if batch_calls:
                    conn.execute(insert(calls_table), batch_calls)
                if batch_scores:
                    conn.execute(insert(scores_table), batch_scores)
            batch_calls.clear()
            batch_scores.clear()

        half = per_release // 2
        for r, rid in enumerate(ids):
            for k in range(per_release):
                step = int(ramp and k >= half)
                unit = (k - half * step) // per_unit  # with --ramp, the same users come back
                arm = arm_of(unit, step)
                call_at = at + timedelta(minutes=10) if step else at
                call_id = f"r{r}c{k}"
                batch_calls.append(
                    {
                        "id": call_id,
                        "project": PROJECT,
                        "prompt": f"agent.{r:03d}",
                        "label": "prod",
                        "version": 2 if arm == "canary" else 1,
                        "digest": "sha256:" + "0" * 64,
                        "release_id": rid,
                        "arm": arm,
                        "unit_hash": f"{r}-{unit}",
                        "context": {},
                        "variables": None,
                        "output": None,
                        "model": None,
                        "latency_ms": rng.gauss(800, 100),
                        "tokens_in": None,
                        "tokens_out": None,
                        "cost": 0.002,
                        "error": "x" if rng.random() < 0.02 else None,
                        "at": call_at,
                    }
                )
                if rng.random() < score_share:
                    batch_scores.append(
                        {
                            "project": PROJECT,
                            "call_id": call_id,
                            "name": "thumbs_down",
                            "value": float(rng.random() < 0.1),
                            "source": "user",
                            "at": call_at,
                        }
                    )
                if len(batch_calls) >= 20_000:
                    flush()
            c.log(f"release {r + 1}/{RELEASES} logged")
        flush()
        with store.engine.begin() as conn:  # the bulk load bypassed ingest: sum up the rollups
            rebuild_rollups(conn)
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            with store.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        store.close()


def measure(url: str, looks: int) -> dict[str, Any]:
    """In a fresh process: time ``looks`` controller passes, metric reads and baseline counts."""
    from sqlalchemy import func, select

    from promptstage.service import controller
    from promptstage.store.sql.tables import calls as calls_table

    store, ctx = c.open_context(url)
    try:
        with store.unit_of_work() as uow:
            running = uow.running_releases()
        assert len(running) == RELEASES, len(running)
        out: dict[str, list[float]] = {"look": [], "metrics": [], "baseline": []}
        for _ in range(looks):
            t0 = time.perf_counter()
            with store.engine.connect() as conn:
                for r in running:
                    conn.execute(
                        select(func.count())
                        .select_from(calls_table)
                        .where(
                            calls_table.c.project == PROJECT,
                            calls_table.c.release_id == r.id,
                            calls_table.c.arm.in_(("canary", "control", "baseline")),
                        )
                    ).scalar_one()
            out["baseline"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with store.unit_of_work() as uow:
                for r in running:
                    uow.release_metrics(r)
            out["metrics"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            outcomes = controller.run_once(ctx)
            out["look"].append(time.perf_counter() - t0)
            assert len(outcomes) == RELEASES and all(o.action == "hold" for o in outcomes), (
                outcomes[:3]
            )
        return {k: c.median(v) for k, v in out.items()}
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--calls-per-unit", type=int, default=5)
    parser.add_argument("--score-share", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--looks", type=int, default=3, help="controller passes per round")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--ramp", action="store_true", help="releases at their second ramp step, users returning"
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.looks)))
        return
    print(c.machine())
    rows = []
    with c.tempdir() as folder:
        backends: list[tuple[str, Any]] = [("SQLite", c.sqlite_url(folder))]
        with c.postgres_database() as pg_url:
            if pg_url is not None and not args.no_postgres:
                backends.append(("Postgres", pg_url))
            for name, url in backends:
                c.log(f"{name}: preparing {args.calls:,} calls over {RELEASES} releases")
                t0 = time.perf_counter()
                prepare(url, args.calls, args.calls_per_unit, args.score_share, args.ramp)
                c.log(f"{name}: prepared in {time.perf_counter() - t0:.0f} s")
                results = [
                    c.run_fresh(
                        Path(__file__), ["--measure", url, "--looks", str(args.looks)], timeout=900
                    )
                    for _ in range(args.rounds)
                ]
                look = [r["look"] for r in results]
                metrics = [r["metrics"] for r in results]
                base = [r["baseline"] for r in results]
                rows.append(
                    [
                        name,
                        f"{args.calls:,}",
                        c.fmt(c.median(look) * 1000),
                        c.spread([x * 1000 for x in look]),
                        c.fmt(c.median(look) * 1000 / RELEASES),
                        c.fmt(c.median(metrics) * 1000),
                        c.fmt(c.median(base) * 1000),
                        c.fmt(c.median(look) / c.median(base), 2) + "x",
                    ]
                )
    c.print_table(
        f"Controller look over {RELEASES} running {'ramps at step 2' if args.ramp else 'canaries'}"
        f" (median of {args.rounds} fresh processes)",
        [
            "store",
            "calls",
            "look ms",
            "spread",
            "ms per release",
            "metrics one by one ms",
            "baseline count ms",
            "look / baseline",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
