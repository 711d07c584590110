"""The ``store`` fixture: every conformance test runs on SQLite and on Postgres."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.tables import metadata


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (migrating each time would be slower)."""
    path = tmp_path_factory.mktemp("template") / "promptstage.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    """The session's Postgres database, migrated once."""
    upgrade_database(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty, migrated database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "promptstage.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("migrated_postgres_url")
    # Empty every table first, so no test depends on what another one left behind.
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    store = SqlStore.from_url(url)
    try:
        with store.engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        store.close()
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    """A ``SqlStore`` on an empty database, closed after the test."""
    opened = SqlStore.from_url(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[[], SqlStore]]:
    """Open more stores on the same database (several processes sharing it)."""
    opened: list[SqlStore] = []

    def make() -> SqlStore:
        opened.append(SqlStore.from_url(store_url))
        return opened[-1]

    try:
        yield make
    finally:
        for each in opened:
            each.close()
