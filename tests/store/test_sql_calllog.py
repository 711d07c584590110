"""The call log at scale: duplicate handling on the COPY and INSERT paths, retention by
partition, and migration 0013 on a database that already holds calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, text

from promptstage.domain.calls import CallRecord
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.migrate import alembic_config
from promptstage.store.sql.partitions import DAYS_AHEAD, ensure_days, partition_days
from promptstage.store.sql.tables import ROLLUP_FILLFACTOR, calls, projects

NOW = datetime(2026, 5, 10, 12, 0, 0, tzinfo=UTC)
_ACME = projects.insert().values(
    name="acme", description="", created_at=NOW, event_seq=0, audit_seq=0
)


def _call(call_id: str, at: datetime, **overrides: object) -> CallRecord:
    fields: dict[str, object] = {
        "id": call_id, "at": at, "prompt": "p", "label": "prod", "version": 1,
        "digest": "sha256:" + "0" * 64, "release_id": "r1", "arm": "control",
        "unit_hash": "u1", "context": {"k": "v"}, "variables": {"name": "x"},
        "output": None, "model": "m", "latency_ms": 10.0, "tokens_in": 1,
        "tokens_out": 2, "cost": 0.5, "error": None,
    }  # fmt: skip
    fields.update(overrides)
    return CallRecord(**fields)  # type: ignore[arg-type]


def _project(store: SqlStore) -> None:
    with store.engine.begin() as conn:
        conn.execute(_ACME)


def _rollup_calls(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(sum(n), 0) FROM call_rollups")).scalar_one())


@pytest.mark.parametrize("method", ["copy", "insert"])
def test_duplicates_are_skipped_the_same_way_on_both_paths(store: SqlStore, method: str) -> None:
    _project(store)
    first = _call("a", NOW, latency_ms=1.0)
    twin = _call("a", NOW + timedelta(seconds=5), latency_ms=2.0)  # same id, another time
    other = _call("b", NOW, context={"nested": [1, {"x": None}]}, output="done")
    with store.unit_of_work(write=True) as uow:
        # within one batch the first record of an id wins
        assert uow.add_calls("acme", [first, twin, other], method=method) == 2  # type: ignore[call-arg]
    with store.unit_of_work(write=True) as uow:
        # a retried batch adds nothing; nor does a stored id arriving with another ``at``
        assert uow.add_calls("acme", [first, other], method=method) == 0  # type: ignore[call-arg]
        late = dataclasses.replace(twin, at=NOW - timedelta(days=2))
        assert uow.add_calls("acme", [late, _call("c", NOW)], method=method) == 1  # type: ignore[call-arg]
    with store.unit_of_work() as uow:
        stored = uow.get_call("acme", "a")
        assert stored is not None and stored.latency_ms == 1.0 and stored.at == NOW
        assert uow.get_call("acme", "b") == dataclasses.replace(other)
    assert _rollup_calls(store) == 3


@pytest.mark.parametrize("method", ["copy", "insert"])
def test_a_call_id_of_one_project_does_not_silence_another(store: SqlStore, method: str) -> None:
    """Call ids are the client's: one tenant posting another's ids (same id, even the same
    ``at``) must not make that tenant's calls be skipped as duplicates."""
    _project(store)
    with store.engine.begin() as conn:
        conn.execute(_ACME.values(name="rival"))
    squatted = _call("order-1234", NOW, latency_ms=9.0)
    with store.unit_of_work(write=True) as uow:
        assert uow.add_calls("rival", [squatted], method=method) == 1  # type: ignore[call-arg]
    with store.unit_of_work(write=True) as uow:
        real = dataclasses.replace(squatted, latency_ms=1.0)
        assert uow.add_calls("acme", [real], method=method) == 1  # type: ignore[call-arg]
        assert uow.add_calls("acme", [real], method=method) == 0  # type: ignore[call-arg]
    with store.unit_of_work() as uow:
        mine = uow.get_call("acme", "order-1234")
        theirs = uow.get_call("rival", "order-1234")
    assert mine is not None and mine.latency_ms == 1.0
    assert theirs is not None and theirs.latency_ms == 9.0


@pytest.mark.postgres
def test_both_paths_store_identical_rows(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("Postgres only")
    store = SqlStore.from_url(store_url)
    try:
        _project(store)
        records = [
            _call(f"{m}-{i}", NOW + timedelta(seconds=i), latency_ms=None if i % 3 else float(i))
            for m in ("copy", "insert")
            for i in range(50)
        ]
        with store.unit_of_work(write=True) as uow:
            assert uow.add_calls("acme", records[:50], method="copy") == 50
            assert uow.add_calls("acme", records[50:], method="insert") == 50
        with store.unit_of_work() as uow:
            for r in records:
                assert uow.get_call("acme", r.id) == r
    finally:
        store.close()


def test_retention_drops_whole_partitions(store_url: str) -> None:
    store = SqlStore.from_url(store_url)
    postgres = store_url.startswith("postgresql")
    try:
        _project(store)
        days = [NOW - timedelta(days=d) for d in (3, 2, 1, 0)]
        records = [
            _call(f"c{i}-{h}", d + timedelta(hours=h)) for i, d in enumerate(days) for h in (-3, 3)
        ]
        with store.unit_of_work(write=True) as uow:
            assert uow.add_calls("acme", records) == 8
        with store.engine.connect() as conn:
            before = set(partition_days(conn))
        if postgres:  # ingest made the missing days' partitions on its own
            assert {r.at.date() for r in records} <= before
        cutoff = NOW - timedelta(days=1, hours=1, seconds=30.5)  # inside a partition
        with store.unit_of_work(write=True) as uow:
            assert uow.delete_calls_before(cutoff) == 5
        with store.engine.connect() as conn:
            after = set(partition_days(conn))
            left = conn.execute(text("SELECT id FROM calls ORDER BY id")).scalars().all()
        assert left == ["c2-3", "c3--3", "c3-3"]
        assert _rollup_calls(store) == 3
        if postgres:  # the days wholly before the cutoff are gone, the others kept
            gone = {d for d in before if d < cutoff.date()}
            assert gone and before - after == gone
            assert cutoff.date() in after
    finally:
        store.close()


def test_partitions_are_made_ahead(store_url: str) -> None:
    store = SqlStore.from_url(store_url)
    try:
        with store.unit_of_work(write=True) as uow:
            made = uow.ensure_call_partitions(date(2030, 1, 1))
        with store.engine.connect() as conn:
            days = set(partition_days(conn))
        if store_url.startswith("postgresql"):
            ahead = {date(2030, 1, 1) + timedelta(days=i) for i in range(DAYS_AHEAD + 1)}
            assert set(made) == ahead and ahead <= days
        else:
            assert made == [] and days == set()
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'promptstage.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()


def test_upgrade_keeps_the_calls_already_stored(empty_url: str) -> None:
    store = SqlStore.from_url(empty_url)
    try:
        with store.engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0012")
        rows = [
            {
                "id": f"old{i}",
                "project": "acme",
                "prompt": "p",
                "label": "prod",
                "version": 1,
                "digest": "sha256:0",
                "release_id": "r1" if i % 2 else None,
                "arm": "control",
                "unit_hash": "u1",
                "context": {},
                "variables": None,
                "output": None,
                "model": None,
                "latency_ms": float(i),
                "tokens_in": None,
                "tokens_out": None,
                "cost": None,
                "error": None,
                "at": NOW - timedelta(days=i % 5, minutes=i, microseconds=i),
            }
            for i in range(30)
        ]
        with store.engine.begin() as conn:
            conn.execute(_ACME)
            conn.execute(calls.insert(), rows)
        upgrade_database(empty_url)
        with store.unit_of_work() as uow:
            for i in range(30):
                call = uow.get_call("acme", f"old{i}")
                assert call is not None and call.latency_ms == float(i)
        assert _rollup_calls(store) == 15
        with store.engine.connect() as conn:
            days = partition_days(conn)
        if empty_url.startswith("postgresql"):
            assert {(NOW - timedelta(days=d)).date() for d in range(5)} <= set(days)
        # and it goes back down with the rows
        with store.engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0012")
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM calls")).scalar_one() == 30
    finally:
        store.close()


def test_a_tiny_value_does_not_break_ingest(store: SqlStore) -> None:
    """Postgres raises on a float underflow; the rollups' squares of 1e-170 count as 0."""
    _project(store)
    with store.unit_of_work(write=True) as uow:
        assert uow.add_calls("acme", [_call("tiny", NOW, cost=1e-170, latency_ms=1e-200)]) == 1
    assert _rollup_calls(store) == 1


def test_rollup_pages_leave_room_for_in_place_updates(store: SqlStore) -> None:
    """Ingest adds to a unit's rollup row many times a minute; with free space on each page
    Postgres updates it in place (a HOT update: no new index entries), which halves the
    rollup upsert of a batch (docs/performance.md, "Scale: call log")."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no storage parameters")
    with store.engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'call_rollups'")
        ).scalar_one()
    assert options is not None and f"fillfactor={ROLLUP_FILLFACTOR}" in options


def test_the_merge_of_a_batch_is_not_jit_compiled(store: SqlStore) -> None:
    """On a large log the planner's cost of the duplicate probe crosses ``jit_above_cost``, and
    compiling the merge cost about 130 ms of a 450 ms batch (docs/performance.md, "Scale: call
    log"): the merge runs without JIT, and the transaction's setting comes back after it."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("Postgres only")
    _project(store)
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("WITH new AS"):
            seen.append(conn.connection.driver_connection.execute("SHOW jit").fetchone()[0])

    event.listen(store.engine, "before_cursor_execute", before)
    try:
        with store.unit_of_work(write=True) as uow:
            uow._conn.exec_driver_sql("SET LOCAL jit = on")  # whatever the server's default
            assert uow.add_calls("acme", [_call("j1", NOW)], method="copy") == 1  # type: ignore[call-arg]
            assert uow._conn.exec_driver_sql("SHOW jit").scalar_one() == "on"
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
    assert seen == ["off"]


def test_a_day_partition_is_analyzed_each_time_it_doubles(store: SqlStore) -> None:
    """A new day's partition fills faster than autovacuum analyzes it. Planned as if empty, the
    duplicate probe compared each of its rows with every id of a batch: 0.5-1.5 s a batch at
    10,000-30,000 rows instead of a few ms (docs/performance.md, "Scale: call log"). Ingest
    analyzes a partition whenever it has doubled since its statistics were taken."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps one table")
    _project(store)
    day = datetime(2031, 3, 4, tzinfo=UTC)
    name = "calls_p20310304"
    with store.engine.begin() as conn:
        ensure_days(conn, [day.date()])
        # Autovacuum could analyze it too, at any moment: only ingest may, here.
        conn.exec_driver_sql(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")

    def ingest(first: int, count: int) -> float:
        batch = [_call(f"d{i}", day + timedelta(seconds=i)) for i in range(first, first + count)]
        with store.unit_of_work(write=True) as uow:
            assert uow.add_calls("acme", batch, method="copy") == count  # type: ignore[call-arg]
        with store.engine.connect() as conn:
            return float(
                conn.exec_driver_sql(
                    f"SELECT reltuples FROM pg_class WHERE oid = '{name}'::regclass"
                ).scalar_one()
            )

    assert ingest(0, 400) == 400, "analyzed once it holds a few pages"
    assert ingest(400, 800) == 1200, "analyzed again: it tripled"
    assert ingest(1200, 100) == 1200, "not at 1,300: it has not doubled since 1,200"
