"""The units' pre-release history, taken once per release (SQLite, Postgres).

A look at a one-step release reads each unit's mean over its 14 days before the release (the
variance reduction's covariate). Once the controller has taken it into ``release_covariates``,
a look joins those rows instead of scanning the prompt's history; the answer is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from promptstage.domain.calls import CallRecord, Score
from promptstage.domain.releases import Release, ReleaseMetrics
from promptstage.service import controller, releases
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from promptstage.store.sql.releases import ReleasesRepository
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, bernoulli, history_call, traffic

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

UNITS = 60


def _before(i: int, j: int, release_start: datetime, *, latency: float | None) -> CallRecord:
    """A call of unit ``user-0-{i}`` on the prompt before the release (no release)."""
    return history_call(
        f"hist-{i}-{j}",
        release_start - timedelta(days=1 + j % 10, seconds=i),
        f"huser-0-{i}",
        latency_ms=latency,
        cost=0.001 * (i % 7) if i % 5 else None,  # some units without a cost
        error="Boom" if (i + j) % 9 == 0 else None,
    )


def _with_history(ctx: Context) -> Release:
    """A canary whose units have history (calls and csat scores), and its own traffic."""
    start = ctx.clock()
    rng = random.Random(5)
    records = [
        _before(i, j, start, latency=None if i % 11 == 0 else 200.0 + rng.random() * 100 * (i % 4))
        for i in range(UNITS)
        for j in range(3)
    ]
    marks = [Score(c.id, "csat", float(rng.randint(1, 5)), "user", start) for c in records[::2]]
    marks += [Score(c.id, "cost", 9.0, "user", start) for c in records[:5]]  # a builtin's name
    with ctx.store.unit_of_work(write=True) as uow:
        uow.add_calls(PROJECT, records)
        uow.add_scores(PROJECT, marks)
    release = releases.start_release(
        ctx, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2, strategy="canary",
        guardrails=[{"metric": "csat"}],
    )  # fmt: skip
    ctx.clock.advance(60)  # type: ignore[attr-defined]
    traffic(
        ctx, release, units=UNITS, scores={"csat": bernoulli(0.5, 0.5)},
        arms=("canary", "control", "baseline"),
    )  # fmt: skip
    return release


def _look(ctx: Context, release: Release) -> ReleaseMetrics:
    with ctx.store.unit_of_work() as uow:
        return uow.releases_metrics(PROJECT, [release])[release.id]


def _stored(ctx: Context, release_id: str) -> int:
    assert isinstance(ctx.store, SqlStore)
    with ctx.store.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM release_covariates WHERE release_id = ?"
                if conn.dialect.name == "sqlite"
                else "SELECT count(*) FROM release_covariates WHERE release_id = %s",
                (release_id,),
            ).scalar_one()
        )


def test_a_look_joins_the_history_taken_and_finds_the_same_sums(seeded: Context) -> None:
    release = _with_history(seeded)
    scanned = _look(seeded, release)
    assert {"error_rate", "latency_ms", "cost", "csat"} <= scanned.history.keys()
    with seeded.store.unit_of_work(write=True) as uow:
        assert uow.take_covariates(release, seeded.clock())
    with seeded.store.unit_of_work(write=True) as uow:
        assert not uow.take_covariates(release, seeded.clock())  # once
        assert uow.covariates_taken([release.id, "rel_other"]) == {release.id}
    assert _stored(seeded, release.id) > 0
    joined = _look(seeded, release)
    assert joined.history == scanned.history
    assert joined == scanned


def test_a_taken_history_is_what_later_looks_read(seeded: Context) -> None:
    """A call before the start stored after the take changes a scan, not the look: the look no
    longer reads the prompt's history from ``calls``."""
    release = _with_history(seeded)
    with seeded.store.unit_of_work(write=True) as uow:
        uow.take_covariates(release, seeded.clock())
    taken = _look(seeded, release)
    late = dataclasses.replace(_before(0, 99, release.created_at, latency=99_999.0), error="Boom")
    with seeded.store.unit_of_work(write=True) as uow:
        assert uow.add_calls(PROJECT, [late]) == 1
    assert _look(seeded, release).history == taken.history
    with seeded.store.unit_of_work() as uow:
        scan = uow.releases_metrics(PROJECT, [release], source="calls")[release.id]
    assert scan.history != taken.history


def test_the_controller_takes_the_history_and_drops_it_when_the_release_ends(
    seeded: Context,
) -> None:
    release = _with_history(seeded)
    controller.run_once(seeded, seeded.clock())
    with seeded.store.unit_of_work() as uow:
        assert uow.covariates_taken([release.id]) == {release.id}
    stored = _stored(seeded, release.id)
    assert stored > 0
    controller.run_once(seeded, seeded.clock())  # taken once: the rows stay as they were
    assert _stored(seeded, release.id) == stored
    releases.act(seeded, USER, PROJECT, release.id, "rollback", reason="test")
    controller.run_once(seeded, seeded.clock())
    assert _stored(seeded, release.id) == 0
    with seeded.store.unit_of_work() as uow:
        assert uow.covariates_taken([release.id]) == set()
    with seeded.store.unit_of_work(write=True) as uow:
        assert not uow.take_covariates(release, seeded.clock())  # ended: nothing to take
    assert _stored(seeded, release.id) == 0


def test_a_look_is_planned_without_jit_or_nested_loops(seeded: Context) -> None:
    """The metrics' reads run with ``jit`` and ``enable_nestloop`` off on Postgres (JIT cost
    a canary's look 0.27 against 0.17 s; nested loops made a look quadratic in the units:
    docs/performance.md, "Scale: call log"), and the transaction's settings come back."""
    assert isinstance(seeded.store, SqlStore)
    if seeded.store.engine.dialect.name != "postgresql":
        pytest.skip("Postgres only")
    release = _with_history(seeded)
    seen: set[tuple[str, str]] = set()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM calls" in statement or "FROM call_rollups" in statement:
            raw = conn.connection.driver_connection
            seen.add(
                tuple(
                    raw.execute(
                        "SELECT current_setting('jit'), current_setting('enable_nestloop')"
                    ).fetchone()
                )
            )

    event.listen(seeded.store.engine, "before_cursor_execute", before)
    try:
        with seeded.store.unit_of_work() as uow:
            uow._conn.exec_driver_sql("SET LOCAL jit = on")  # type: ignore[attr-defined]
            uow.releases_metrics(PROJECT, [release])
            settings = uow._conn.exec_driver_sql("SHOW jit").scalar_one()  # type: ignore[attr-defined]
    finally:
        event.remove(seeded.store.engine, "before_cursor_execute", before)
    assert seen == {("off", "off")}
    assert settings == "on"


def test_a_failed_take_leaves_the_looks_to_the_scan(
    seeded: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = _with_history(seeded)
    scanned = _look(seeded, release)

    def broken(*args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ReleasesRepository, "take_covariates", broken)
    monkeypatch.setattr(ReleasesRepository, "drop_ended_covariates", broken)
    outcomes = controller.run_once(seeded, seeded.clock())
    assert [o.release_id for o in outcomes] == [release.id]  # the look still happened
    with seeded.store.unit_of_work() as uow:
        assert uow.covariates_taken([release.id]) == set()
    assert _look(seeded, release).history == scanned.history


def test_the_take_waits_for_the_looks_of_its_pass(
    seeded: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taking a busy prompt's history can take minutes: it comes after the pass's looks, so it
    never delays another release's look (the first look scans the history, as before)."""
    release = _with_history(seeded)
    looks_when_taken: list[int] = []
    take = ReleasesRepository.take_covariates

    def spy(self: ReleasesRepository, r: Release, at: datetime) -> bool:
        looks_when_taken.append(len(self.list_looks(r.id, limit=10, before=None)))
        return take(self, r, at)

    monkeypatch.setattr(ReleasesRepository, "take_covariates", spy)
    controller.run_once(seeded, seeded.clock())
    assert looks_when_taken == [1]
    with seeded.store.unit_of_work() as uow:
        assert uow.covariates_taken([release.id]) == {release.id}


class _Leader:
    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


def test_a_slow_take_holds_back_no_pass(seeded: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a busy prompt a take lasts minutes (189 s at 50 M history calls): the server's
    controller takes beside its passes, so every release's look (auto-rollback included) goes
    on meanwhile, and the history is taken once the take ends."""
    release = _with_history(seeded)
    taking, finish = threading.Event(), threading.Event()
    take = controller.take_histories

    def slow(ctx: Context) -> None:  # the scan's minutes, outside a transaction (SQLite has
        taking.set()  # one writer: a transaction held open would stop the looks' writes)
        finish.wait(10)
        take(ctx)

    monkeypatch.setattr(controller, "take_histories", slow)
    passes: list[bool] = []
    real = controller.run_once

    def counted(ctx: Context, now: datetime | None = None, **kwargs: Any) -> Any:
        passes.append(kwargs.get("take", True))
        return real(ctx, seeded.clock(), **kwargs)

    monkeypatch.setattr(controller, "run_once", counted)

    async def run() -> int:
        loop = asyncio.create_task(controller.run_forever(seeded, _Leader(), 0.05))
        try:
            deadline = time.monotonic() + 5
            while not (taking.is_set() and len(passes) >= 3) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            during = len(passes)
            finish.set()
            while time.monotonic() < deadline + 5:
                with seeded.store.unit_of_work() as uow:
                    if uow.covariates_taken([release.id]):
                        break
                await asyncio.sleep(0.02)
            return during
        finally:
            finish.set()
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop

    during = asyncio.run(run())
    assert taking.is_set() and during >= 3, "passes went on while the take was held"
    assert set(passes) == {False}, "no pass took a history itself"
    with seeded.store.unit_of_work() as uow:
        assert uow.covariates_taken([release.id]) == {release.id}
