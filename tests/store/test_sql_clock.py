"""The database's clock (``database_now``), which the release controller measures bake
deadlines on, and the migration that gave releases ``on_insufficient_data``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command

from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.migrate import alembic_config
from promptstage.store.sql.tables import projects, prompts, releases


def test_database_now_is_the_database_clock_in_utc(store: SqlStore) -> None:
    before = datetime.now(UTC)
    with store.unit_of_work() as uow:
        first = uow.database_now()
    with store.unit_of_work() as uow:
        second = uow.database_now()
    after = datetime.now(UTC)
    assert first.tzinfo is not None and first.utcoffset() == timedelta(0)
    # The test database runs on this host, so its clock is ours, to the millisecond rounding.
    assert before - timedelta(seconds=1) <= first <= second <= after + timedelta(seconds=1)


def test_database_now_has_sub_second_precision(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        seen = {uow.database_now().microsecond for _ in range(5)}
    assert seen != {0}  # not CURRENT_TIMESTAMP's whole seconds


def test_two_stores_on_one_database_read_the_same_clock(
    make_store: Callable[[], SqlStore],
) -> None:
    a, b = make_store(), make_store()
    with a.unit_of_work() as uow:
        first = uow.database_now()
    with b.unit_of_work() as uow:
        second = uow.database_now()
    assert timedelta(0) <= second - first < timedelta(seconds=5)


def test_existing_releases_migrate_to_roll_back_on_insufficient_data(empty_url: str) -> None:
    config = alembic_config()
    store = SqlStore.from_url(empty_url)
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        with store.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            connection.execute(
                projects.insert().values(
                    name="clinic", description="", created_at=at, event_seq=0, audit_seq=0
                )
            )
            connection.execute(
                prompts.insert().values(
                    project="clinic",
                    name="booking",
                    type="text",
                    description="",
                    tags=[],
                    created_at=at,
                    latest_version=2,
                )
            )
            row = {
                "id": "rel_old",
                "project": "clinic",
                "prompt": "booking",
                "label": "prod",
                "baseline_version": 1,
                "candidate_version": 2,
                "strategy": "canary",
                "steps": [{"weight_bps": 500, "min_duration_seconds": 3600.0, "min_units": 100}],
                "step_index": 0,
                "weight_bps": 500,
                "state": "running",
                "salt": "00",
                "hash_version": 1,
                "unit_attribute": "user_id",
                "targeting": None,
                "guardrails": None,
                "auto_rollback": True,
                "flags": [],
                "reason": "started",
                "created_by": "key:x",
                "created_at": at,
                "updated_at": at,
                "step_started_at": at,
                "ended_at": None,
                "active_label": "booking/prod",
            }
            connection.execute(releases.insert().values(**row))  # 0004's columns only
        upgrade_database(empty_url)
        with store.unit_of_work() as uow:
            found = uow.get_release("clinic", "rel_old")
        assert found is not None
        assert (found.on_insufficient_data, found.state, found.step_started_at) == (
            "rollback",
            "running",
            at,
        )
    finally:
        store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a database with nothing in it (a new Postgres database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/promptstage.db"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()
