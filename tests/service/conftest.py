"""Fixtures of the service tests: a ``Context`` on SQLite and on Postgres, built like
``server.create_app`` builds its own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from promptstage.service.bus import EventBus
from promptstage.service.context import Context, utc_now
from promptstage.store.sql import SqlStore


@pytest.fixture(scope="session")
def service_postgres_url(make_postgres_database: Callable[[], str]) -> str:
    """One migrated Postgres database for the service tests: each test works in its own project
    (creating and dropping a database per test costs far more than the tests)."""
    url = make_postgres_database()
    SqlStore.from_url(url, migrate=True).close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each backend: a new SQLite file, or the session's Postgres database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'promptstage.db'}"
    url: str = request.getfixturevalue("service_postgres_url")
    return url


@pytest.fixture
def project() -> str:
    """A project name no other test uses (the Postgres database is shared)."""
    return f"p-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    opened = SqlStore.from_url(database_url, migrate=True)
    yield opened
    opened.close()


@pytest.fixture
def ctx(store: SqlStore) -> Context:
    return Context(store=store, bus=EventBus(), clock=utc_now)
