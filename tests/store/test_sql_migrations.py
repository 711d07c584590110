"""The Alembic migrations build exactly the schema of ``tables.py``, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from promptstage.errors import ServiceUnavailableError
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.migrate import alembic_config
from promptstage.store.sql.partitions import include_name
from promptstage.store.sql.tables import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a database with nothing in it (a new Postgres database per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'dir' / 'promptstage.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()


def _head() -> str | None:
    """The newest revision the packaged migrations define."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _diff(store: SqlStore) -> list[object]:
    with store.engine.connect() as connection:
        opts = {"compare_type": True, "include_name": include_name}
        context = MigrationContext.configure(connection, opts=opts)
        return list(compare_metadata(context, metadata))


def test_migrations_match_the_tables(empty_url: str) -> None:
    upgrade_database(empty_url)
    store = SqlStore.from_url(empty_url)
    try:
        assert _diff(store) == []
    finally:
        store.close()


def test_upgrade_is_idempotent_and_from_url_can_migrate(empty_url: str) -> None:
    store = SqlStore.from_url(empty_url, migrate=True)
    try:
        store.migrate()
        upgrade_database(empty_url)
        with store.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert context.get_current_revision() == _head()
        with store.unit_of_work(write=True) as uow:
            uow.list_projects()
    finally:
        store.close()


def test_downgrade_to_base_removes_everything(empty_url: str) -> None:
    upgrade_database(empty_url)
    store = SqlStore.from_url(empty_url)
    try:
        with store.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        with store.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    finally:
        store.close()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "promptstage.db"
    store = SqlStore.from_url(f"sqlite:///{path}", migrate=True)
    try:
        assert path.parent.is_dir()
        with store.engine.connect() as connection:

            def pragma(name: str) -> object:
                return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 10_000
            assert pragma("synchronous") == 1  # NORMAL
    finally:
        store.close()


def test_in_memory_sqlite_works_with_migrate() -> None:
    store = SqlStore.from_url("sqlite://", migrate=True)
    try:
        with store.unit_of_work(write=True) as uow:
            uow.create_project("clinic", "", datetime(2026, 1, 1, tzinfo=UTC))
        with store.unit_of_work() as uow:
            assert [project.name for project in uow.list_projects()] == ["clinic"]
    finally:
        store.close()


def test_migrating_an_unreachable_database_is_service_unavailable() -> None:
    with pytest.raises(ServiceUnavailableError, match="cannot be reached"):
        upgrade_database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(ServiceUnavailableError):
        SqlStore.from_url("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=True)
