"""Fixtures of the API tests: ``make_app(**settings)`` on SQLite and on Postgres, an admin
client, and the seeded project (``client.Seeded``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .client import ADMIN_KEY, Api, Seeded
from .databases import BACKENDS, PostgresDatabases, SqliteDatabases


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[], SqlStore]]:
    """Open (and migrate) stores on the test's database; all closed after the test."""
    opened: list[SqlStore] = []

    def make() -> SqlStore:
        opened.append(SqlStore.from_url(database_url, migrate=True))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def make_app(make_store: Callable[[], SqlStore]) -> Callable[..., FastAPI]:
    """``make_app(**settings)``: an app on the test's database (each call: a new store)."""

    def make(**settings: Any) -> FastAPI:
        values: dict[str, Any] = {
            "admin_key": ADMIN_KEY,
            "state_check_seconds": 0.0,
            "eval_gate": False,  # tests of other features; gate tests turn it on
            **settings,
        }
        return create_app(Settings(**values), store=make_store())

    return make


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as each:
        yield each


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def admin(runner: asyncio.Runner, app: FastAPI) -> Api:
    """A client holding the instance admin key."""
    return Api(runner, app, ADMIN_KEY)


# -- databases: every test gets its own, empty or holding a copy of the seed ----------------------


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("api-templates"))


@pytest.fixture(scope="session")
def postgres_databases(make_postgres_database: Callable[[], str]) -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(make_postgres_database())
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest) -> SqliteDatabases | PostgresDatabases:
    found: SqliteDatabases | PostgresDatabases = request.getfixturevalue(
        f"{request.param}_databases"
    )
    return found


@pytest.fixture
def database_url(
    request: pytest.FixtureRequest, databases: SqliteDatabases | PostgresDatabases, tmp_path: Path
) -> str:
    """The test's own database on each backend: empty, or a copy of the seed when the test
    (directly or through another fixture) uses ``seeded``."""
    seeded = "seeded" in request.fixturenames
    if isinstance(databases, SqliteDatabases):
        return databases.fresh(seeded, tmp_path)
    return databases.fresh(seeded)


@pytest.fixture
def seeded(admin: Api, databases: SqliteDatabases | PostgresDatabases) -> Seeded:
    """The seeded project (see ``Seeded``), its keys, and a client holding the admin key."""
    return Seeded(admin, dict(databases.keys))
