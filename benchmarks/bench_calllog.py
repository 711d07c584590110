"""The call log at scale on Postgres (issue 16): COPY vs INSERT ingest, a look at 1 M+ calls.

In a fresh ``promptstage_bench_<hex>`` database (day partitions, the rollups, every migration):

* **ingest**: ``add_calls`` of ``--batch`` unit-keyed release calls per transaction, by
  ``COPY`` (the default path) and by the plain ``INSERT`` batch, alternating, ``--batches``
  each, into the day partition they fill; records/s is the batch size over the median batch
  time (rollups kept on both paths), beside the slowest batch.
* **look**: one running ramp release advanced once, ``--units`` units over ``--minutes``
  minutes, grown to each size of ``--sizes`` calls (rows made in bulk with ``generate_series``
  and added to the rollups by the same statement as ingest uses). At each size the store's
  ``releases_metrics`` (everything a controller look reads, with a fast-path window of the
  last 10 minutes) is timed from the rollups and from a scan of the raw calls, alternating,
  ``--rounds`` each, after ``ANALYZE``. The two results are checked equal.
* **history** (``--history-sizes``): the log grows the way a busy prompt's does, before its
  release. A canary release (one step, so the look reads the units' pre-release history for
  the variance reduction) of a second prompt has a fixed ``--canary-calls`` over the last
  ``--minutes`` (beside it, the ramp of the first prompt with as many calls); the prompt's calls
  in the 14 days before the release start grow to each size
  (``--history-units`` units, no release). At each size the controller's take of the units'
  history is timed once, then ``releases_metrics`` of the canary with the history scanned from
  ``calls`` (as before migration 0018) and joined from the taken rows, alternating,
  ``--rounds`` each; the two histories are checked equal. Then ``--batches`` ``COPY`` batches
  are ingested into the log as it is (records/s, also before the first size).

::

    .venv/bin/python benchmarks/bench_calllog.py                         # 1 M and 10 M calls
    .venv/bin/python benchmarks/bench_calllog.py --sizes 1000000,10000000,50000000
    .venv/bin/python benchmarks/bench_calllog.py --only history --history-sizes 1000000,10000000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt, log, machine, median, postgres_database, print_table

PROJECT = "bench"
MINUTE = timedelta(minutes=1)
PROMPT = "booking"
USER = "key:bench"
DIGEST = "sha256:" + "0" * 64


def _records(n: int, prefix: str, release_id: str, at: datetime) -> list[Any]:
    from promptstage.domain.calls import CallRecord

    arms = ("canary", "control", "baseline")
    return [
        CallRecord(
            id=f"{prefix}{i}",
            at=at + timedelta(microseconds=i),
            prompt=PROMPT,
            label="prod",
            version=1,
            digest=DIGEST,
            release_id=release_id,
            arm=arms[i % 3],
            unit_hash=f"u{i % 5000}",
            context={"country": "fr"},
            variables={"name": "x"},
            output=None,
            model="gpt-4o",
            latency_ms=100.0 + i % 97,
            tokens_in=10,
            tokens_out=20,
            cost=0.001,
            error=None if i % 50 else "timeout",
        )
        for i in range(n)
    ]


def bench_ingest(ctx: Any, release_id: str, batch: int, batches: int) -> list[list[Any]]:
    times: dict[str, list[float]] = {"copy": [], "insert": []}
    at = datetime.now(UTC) - timedelta(hours=1)
    for b in range(batches):
        for method in ("copy", "insert") if b % 2 == 0 else ("insert", "copy"):
            records = _records(batch, f"{method}{b}-", release_id, at)
            t0 = time.perf_counter()
            with ctx.store.unit_of_work(write=True) as uow:
                new = uow.add_calls(PROJECT, records, method=method)
            times[method].append(time.perf_counter() - t0)
            assert new == batch, (method, new)
    insert_rate = batch / median(times["insert"])
    rows = []
    for method in ("copy", "insert"):
        rate = batch / median(times[method])
        rows.append(
            [
                method,
                f"{batch:,}",
                fmt(median(times[method]) * 1000),
                fmt(max(times[method]) * 1000),
                fmt(rate),
                f"{rate / insert_rate:.2f}x",
            ]
        )
    return rows


_SEED = """
WITH new AS (
    INSERT INTO calls (id, project, prompt, label, version, digest, release_id, arm, unit_hash,
                       context, latency_ms, tokens_in, tokens_out, cost, error, at)
    SELECT 's' || g, %(project)s, %(prompt)s, 'prod',
           CASE WHEN (g %% %(units)s) %% 3 = 0 THEN 2 ELSE 1 END, %(digest)s, %(release)s,
           (ARRAY['canary', 'control', 'baseline'])[1 + (g %% %(units)s) %% 3],
           'u' || (g %% %(units)s), '{}', 50 + (g * 7919) %% 500, 10, 20,
           0.0001 * (g %% 17), CASE WHEN (g * 31) %% 50 = 0 THEN 'timeout' END,
           %(start)s + make_interval(secs => ((g * 104729) %% %(span_us)s) / 1e6)
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
    RETURNING project, release_id, arm, unit_hash, at, error, latency_ms, cost
)
INSERT INTO call_rollups (project, release_id, arm, unit_hash, minute, n, errors, n_lat, lat,
                          lat_sq, n_cost, cost, cost_sq)
SELECT project, release_id, arm, unit_hash,
       date_trunc('minute', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), count(error),
       count(latency_ms), coalesce(sum(latency_ms), 0), coalesce(sum(latency_ms * latency_ms), 0),
       count(cost), coalesce(sum(cost), 0), coalesce(sum(cost * cost), 0)
FROM new GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (project, release_id, arm, unit_hash, minute) DO UPDATE SET
    n = call_rollups.n + EXCLUDED.n, errors = call_rollups.errors + EXCLUDED.errors,
    n_lat = call_rollups.n_lat + EXCLUDED.n_lat, lat = call_rollups.lat + EXCLUDED.lat,
    lat_sq = call_rollups.lat_sq + EXCLUDED.lat_sq, n_cost = call_rollups.n_cost + EXCLUDED.n_cost,
    cost = call_rollups.cost + EXCLUDED.cost, cost_sq = call_rollups.cost_sq + EXCLUDED.cost_sq
"""


def seed(
    store: Any, release_id: str, start: datetime, lo: int, hi: int, a: Any, prompt: str = PROMPT
) -> None:
    """Calls ``lo..hi`` spread over ``a.minutes`` from ``start``, in chunks of 1 M."""
    from promptstage.store.sql.partitions import ensure_days

    with store.engine.begin() as conn:
        days = {(start + timedelta(minutes=m)).date() for m in range(0, a.minutes + 1, 30)}
        ensure_days(conn, days)
    for chunk in range(lo, hi + 1, 1_000_000):
        t0 = time.perf_counter()
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                _SEED,
                {
                    "project": PROJECT, "prompt": prompt, "digest": DIGEST, "units": a.units,
                    "release": release_id, "start": start, "span_us": a.minutes * 60_000_000,
                    "lo": chunk, "hi": min(hi, chunk + 999_999),
                },
            )  # fmt: skip
        log(
            f"seeded calls {chunk:,}..{min(hi, chunk + 999_999):,} in {time.perf_counter() - t0:.0f}s"
        )
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE calls")
        conn.exec_driver_sql("ANALYZE call_rollups")


_SEED_HISTORY = """
INSERT INTO calls (id, project, prompt, label, version, digest, release_id, arm, unit_hash,
                   context, latency_ms, tokens_in, tokens_out, cost, error, at)
SELECT 'h' || g, %(project)s, %(prompt)s, 'prod', 1, %(digest)s, NULL, 'baseline',
       'u' || (g %% %(units)s), '{}', 50 + (g * 7919) %% 500, 10, 20, 0.0001 * (g %% 17),
       CASE WHEN (g * 31) %% 50 = 0 THEN 'timeout' END,
       %(start)s - make_interval(secs => (1 + (g * 104729) %% %(span_us)s) / 1e6)
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
"""


def seed_history(store: Any, prompt: str, start: datetime, lo: int, hi: int, a: Any) -> None:
    """Calls ``lo..hi`` of ``prompt`` without a release, in the 14 days before ``start``."""
    from promptstage.store.sql.partitions import ensure_days
    from promptstage.store.sql.release_covariates import HISTORY_DAYS

    with store.engine.begin() as conn:
        ensure_days(conn, {(start - timedelta(days=d)).date() for d in range(HISTORY_DAYS + 1)})
    for chunk in range(lo, hi + 1, 1_000_000):
        t0 = time.perf_counter()
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                _SEED_HISTORY,
                {
                    "project": PROJECT, "prompt": prompt, "digest": DIGEST,
                    "units": a.history_units, "start": start,
                    "span_us": HISTORY_DAYS * 86_400_000_000,
                    "lo": chunk, "hi": min(hi, chunk + 999_999),
                },
            )  # fmt: skip
        log(f"history {chunk:,}..{min(hi, chunk + 999_999):,} in {time.perf_counter() - t0:.0f}s")
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE calls")


def _same_history(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal up to the order of floating-point sums (the database adds in its join's order)."""
    flat = [
        (metric, step, arm, value)
        for metric, steps in a.items()
        for step, arms in steps.items()
        for arm, value in arms.items()
    ]
    return a.keys() == b.keys() and all(
        len(v) == len(b[m][s][r]) and all(_close(x, y) for x, y in zip(v, b[m][s][r], strict=True))
        for m, s, r, v in flat
    )


def _untake(store: Any, release_id: str, keep_rows: bool) -> None:
    """Mark the release's history as not taken (a look scans it again); drop its rows unless
    ``keep_rows`` (then setting the mark back restores the taken state)."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE releases SET covariates_at = NULL WHERE id = %(id)s", {"id": release_id}
        )
        if not keep_rows:
            conn.exec_driver_sql(
                "DELETE FROM release_covariates WHERE release_id = %(id)s", {"id": release_id}
            )


def _retake(store: Any, release_id: str, at: datetime) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE releases SET covariates_at = %(at)s WHERE id = %(id)s",
            {"id": release_id, "at": at},
        )


def _copy_rate(ctx: Any, a: Any, tag: str) -> float:
    """Records/s of ``COPY`` ingest into the log as it is now: the median of ``--batches``
    batches of ``--batch`` new calls made a minute ago (a release of their own)."""
    times = []
    for b in range(a.batches):
        records = _records(a.batch, f"{tag}-{b}-", "rel_ingest", datetime.now(UTC) - MINUTE)
        t0 = time.perf_counter()
        with ctx.store.unit_of_work(write=True) as uow:
            assert uow.add_calls(PROJECT, records, method="copy") == a.batch
        times.append(time.perf_counter() - t0)
    return a.batch / median(times)


def bench_history(ctx: Any, canary: Any, ramp: Any, a: Any, start: datetime) -> list[list[Any]]:
    """A canary's look as the prompt's pre-release history grows (see the module docstring):
    the history scanned from ``calls`` (no take yet, as every look did before migration 0018)
    and joined from the rows the controller took, alternating with the look at a ramp of
    another prompt (which reads no history: the log grows around it); the take timed once."""
    until = start + timedelta(minutes=a.minutes)
    window = (until - timedelta(minutes=10, seconds=7), until)
    windows = {canary.id: window, ramp.id: window}
    rate = _copy_rate(ctx, a, "ingest0")
    rows: list[list[Any]] = [
        [f"{2 * a.canary_calls:,}", "0", "-", "-", "-", "-", "-", "-", fmt(rate)]
    ]
    log(f"history 0: COPY ingest {rate:,.0f} records/s")
    seeded = 0
    for size in a.history_sizes:
        seed_history(ctx.store, canary.prompt, start, seeded + 1, size, a)
        seeded = size
        _untake(ctx.store, canary.id, keep_rows=False)
        t0 = time.perf_counter()
        with ctx.store.unit_of_work(write=True) as uow:
            assert uow.take_covariates(canary, until)
        take = time.perf_counter() - t0
        with ctx.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE release_covariates")
        times: dict[str, list[float]] = {"scanned": [], "taken": [], "ramp": []}
        results: dict[str, Any] = {}
        for r in range(a.rounds):
            for how in ("scanned", "taken", "ramp") if r % 2 == 0 else ("ramp", "taken", "scanned"):
                if how == "scanned":
                    _untake(ctx.store, canary.id, keep_rows=True)
                elif how == "taken":
                    _retake(ctx.store, canary.id, until)
                release = ramp if how == "ramp" else canary
                t0 = time.perf_counter()
                with ctx.store.unit_of_work() as uow:
                    results[how] = uow.releases_metrics(PROJECT, [release], windows)[release.id]
                times[how].append(time.perf_counter() - t0)
        _retake(ctx.store, canary.id, until)
        m = results["taken"]
        assert m.history, "the canary's units have no history: the look did not read it"
        assert _same_history(m.history, results["scanned"].history), "the histories differ"
        with_history = sum(n for n, *_ in m.history["latency_ms"][0].values())
        assert results["ramp"].metrics and not results["ramp"].history
        scanned, taken, at_ramp = (median(times[k]) for k in ("scanned", "taken", "ramp"))
        rate = _copy_rate(ctx, a, f"ingest{size}")
        rows.append(
            [f"{size + 2 * a.canary_calls:,}", f"{size:,}", f"{with_history:,}",
             fmt(scanned * 1000), fmt(take * 1000), fmt(taken * 1000), f"{scanned / taken:.1f}x",
             fmt(at_ramp * 1000), fmt(rate)]
        )  # fmt: skip
        log(
            f"history {size:,}: canary look {scanned:.2f}s scanned, {taken:.2f}s taken "
            f"(take {take:.2f}s); ramp look {at_ramp:.2f}s; COPY ingest {rate:,.0f} records/s"
        )
    return rows


def _close(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)


def _same(a: Any, b: Any) -> bool:
    for metric, steps in a.metrics.items():
        for step, arms in steps.items():
            for arm, s in arms.items():
                t = b.metrics[metric][step][arm]
                if s.units != t.units or s.calls != t.calls or not _close(s.total, t.total):
                    return False
    return a.units == b.units and a.metrics.keys() == b.metrics.keys()


def bench_look(ctx: Any, release: Any, a: Any, start: datetime) -> list[list[Any]]:
    until = start + timedelta(minutes=a.minutes)
    windows = {release.id: (until - timedelta(minutes=10, seconds=7), until)}
    rows: list[list[Any]] = []
    seeded = 0
    for size in a.sizes:
        seed(ctx.store, release.id, start, seeded + 1, size, a)
        seeded = size
        times: dict[str, list[float]] = {"rollups": [], "calls": []}
        results: dict[str, Any] = {}
        for r in range(a.rounds):
            for source in ("rollups", "calls") if r % 2 == 0 else ("calls", "rollups"):
                t0 = time.perf_counter()
                with ctx.store.unit_of_work() as uow:
                    m = uow.releases_metrics(PROJECT, [release], windows, source=source)
                times[source].append(time.perf_counter() - t0)
                results[source] = m[release.id]
        assert _same(results["rollups"], results["calls"]), "rollups and raw calls differ"
        with ctx.store.engine.connect() as conn:
            cells = conn.exec_driver_sql("SELECT count(*) FROM call_rollups").scalar_one()
        rolled, raw = median(times["rollups"]), median(times["calls"])
        rows.append(
            [f"{size:,}", f"{cells:,}", fmt(rolled * 1000), fmt(raw * 1000), f"{raw / rolled:.1f}x"]
        )
        log(f"{size:,} calls: rollups {rolled:.2f}s, raw {raw:.2f}s")
    return rows


def _two_versions(ctx: Any, prompt: str) -> None:
    """``prompt`` with versions 1 and 2, ``prod`` on 1: ready for a release of 2."""
    from promptstage.service import labels, prompts

    prompts.create_prompt(ctx, USER, PROJECT, prompt, "text")
    for n in (1, 2):
        prompts.write_version(
            ctx, USER, PROJECT, prompt, template=f"{prompt} v{n} {{{{ x }}}}",
            config={"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
        )  # fmt: skip
    labels.move_label(ctx, USER, PROJECT, prompt, "prod", 1)


def _canary(ctx: Any) -> Any:
    """A running canary (one step) of a second prompt, started at the context's clock."""
    from promptstage.service import releases

    _two_versions(ctx, "support")
    return releases.start_release(
        ctx, USER, PROJECT, prompt="support", label="prod", candidate_version=2,
        strategy="canary",
    )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=5000)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--sizes", default="1000000,10000000")
    p.add_argument("--units", type=int, default=2000)
    p.add_argument("--minutes", type=int, default=120)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", default="ingest,look,history", help="parts: ingest, look, history")
    p.add_argument("--history-sizes", default="1000000,10000000")
    p.add_argument("--history-units", type=int, default=20000)
    p.add_argument("--canary-calls", type=int, default=200000)
    a = p.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(",")]
    a.history_sizes = [int(s) for s in a.history_sizes.split(",")]
    parts = set(a.only.split(","))
    if parts - {"ingest", "look", "history"}:
        p.error(
            f"--only: unknown part(s) {', '.join(sorted(parts - {'ingest', 'look', 'history'}))}"
        )
    print(machine())
    from promptstage.service import prompts, releases

    with postgres_database() as url:
        if url is None:
            print("Postgres unreachable: nothing measured")
            return
        from promptstage.service.bus import EventBus
        from promptstage.service.context import Context
        from promptstage.store.sql import SqlStore

        # no statement timeout: a raw scan of 10 M calls takes longer than the server's default
        store = SqlStore.from_url(url, migrate=True)
        ctx = Context(store=store, bus=EventBus())
        try:
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=a.minutes)
            ctx.clock = lambda: start
            prompts.create_project(ctx, USER, PROJECT)
            _two_versions(ctx, PROMPT)
            steps = [{"weight_bps": w, "min_duration_seconds": 60} for w in (2500, 5000)]
            release = releases.start_release(
                ctx, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2,
                strategy="ramp", steps=steps,
            )  # fmt: skip
            ctx.clock = lambda: start + timedelta(minutes=a.minutes // 2, seconds=17.25)
            releases.act(ctx, USER, PROJECT, release.id, "advance")
            release = releases.get_release(ctx, PROJECT, release.id)[0]
            if "ingest" in parts:
                ingest = bench_ingest(ctx, release.id, a.batch, a.batches)
                print_table(
                    f"Ingest: add_calls of {a.batch:,} records per transaction, median of "
                    f"{a.batches} batches each (same run)",
                    [
                        "path",
                        "batch",
                        "ms per batch",
                        "slowest batch (ms)",
                        "records/s",
                        "vs INSERT",
                    ],
                    ingest,
                )
            with store.engine.begin() as conn:  # the looks read only the seeded calls
                conn.exec_driver_sql("TRUNCATE calls, call_rollups")
            if "look" in parts:
                looks = bench_look(ctx, release, a, start)
                print_table(
                    f"A look (releases_metrics, one ramp release at its 2nd step, {a.units:,} "
                    f"units over {a.minutes} min), median of {a.rounds}: rollups vs a raw scan",
                    ["calls", "rollup rows", "rollups ms", "raw scan ms", "raw / rollups"],
                    looks,
                )
            if "history" in parts:
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("TRUNCATE calls, call_rollups")
                ctx.clock = lambda: start
                canary = _canary(ctx)
                n = a.canary_calls
                seed(ctx.store, release.id, start, 1, n, a)
                seed(ctx.store, canary.id, start, n + 1, 2 * n, a, prompt=canary.prompt)
                rows = bench_history(ctx, canary, release, a, start)
                print_table(
                    f"As the log grows with a prompt's history: that prompt's canary look, and "
                    f"a ramp's look on another prompt ({n:,} calls each over {a.minutes} min; "
                    f"{a.history_units:,} units in the 14 days before the canary), median of "
                    f"{a.rounds}",
                    ["calls in the log", "canary prompt's history calls", "units with history",
                     "canary look, history scanned ms", "take ms (once)",
                     "canary look, history taken ms", "scanned / taken", "ramp look ms",
                     "COPY ingest records/s"],
                    rows,
                )  # fmt: skip
        finally:
            store.close()


if __name__ == "__main__":
    main()
