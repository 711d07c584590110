"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from promptstage.store.sql import SqlStore
from support.templates import drop_postgres_database

POSTGRES_ENV = "PROMPTSTAGE_TEST_POSTGRES_URL"
_SESSION_CACHE_DIR: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture of any scope runs, SDK clients (and the processes tests start) keep
    their default last-known-good files in a directory of this session's own, never in the
    user's cache, where a file left by an earlier run would be loaded instead of a bootstrap;
    and they do not trace unless a test says so."""
    global _SESSION_CACHE_DIR
    _SESSION_CACHE_DIR = tempfile.mkdtemp(prefix="promptstage-test-cache-")
    os.environ["PROMPTSTAGE_CACHE_DIR"] = _SESSION_CACHE_DIR
    # SDK clients trace only in the tests that ask for it (otel=...): once any test imports
    # OpenTelemetry (the Langfuse SDK sets the global tracer provider, for good), "auto" would
    # make every later client export spans, retrying with jitter to servers long stopped.
    os.environ["PROMPTSTAGE_OTEL"] = "off"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SESSION_CACHE_DIR is not None:
        shutil.rmtree(_SESSION_CACHE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty Postgres databases, all dropped when the session ends.

    Each drop forces a checkpoint on the server (about a second on a loaded machine), so tests
    that need a new migrated database each reset a shared one instead
    (``support.templates.fresh_migrated_database``).

    The server comes from ``PROMPTSTAGE_TEST_POSTGRES_URL`` (its database is only used to run
    ``CREATE``/``DROP DATABASE``). Tests needing it are skipped when it is unset or unreachable.
    """
    raw = os.environ.get(POSTGRES_ENV)
    if not raw:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    server = make_url(raw)
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    admin = create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        admin.dispose()
        pytest.skip(f"Postgres at {server.render_as_string()} is unreachable: {exc.orig}")
    created: list[str] = []

    def make() -> str:
        name = f"promptstage_t_{secrets.token_hex(6)}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        for name in created:
            drop_postgres_database(admin, name)
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url(make_postgres_database: Callable[[], str]) -> str:
    """The URL of one fresh, empty Postgres database for the whole session."""
    return make_postgres_database()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the session: copy it rather than migrate a new file."""
    path = tmp_path_factory.mktemp("migrated") / "template.db"
    SqlStore.from_url(f"sqlite:///{path}", migrate=True).close()
    return path


@pytest.fixture(scope="session")
def shared_migrated_postgres_url(make_postgres_database: Callable[[], str]) -> str:
    """One Postgres database migrated for the session, emptied before each test that uses it
    (``support.templates.fresh_migrated_database``)."""
    url = make_postgres_database()
    SqlStore.from_url(url, migrate=True).close()
    return url


@pytest.fixture(autouse=True)
def _own_sdk_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test's SDK clients (and the processes it starts) keep their default last-known-good
    files in a directory of their own, never in the user's cache or another test's."""
    monkeypatch.setenv("PROMPTSTAGE_CACHE_DIR", str(tmp_path_factory.mktemp("sdk-cache")))
