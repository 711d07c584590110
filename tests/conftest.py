"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from promptstage.store.sql import SqlStore

POSTGRES_ENV = "PROMPTSTAGE_TEST_POSTGRES_URL"
_SESSION_CACHE_DIR: str | None = None
# Dropping a test database must never hang the session: every statement of the teardown is
# bounded, the database's sessions are terminated first, and a drop that still fails is
# retried, then reported (a leftover test database is not a test failure).
DROP_TIMEOUT_MS = 10_000
DROP_ATTEMPTS = 3


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture of any scope runs, SDK clients (and the processes tests start) keep
    their default last-known-good files in a directory of this session's own, never in the
    user's cache, where a file left by an earlier run would be loaded instead of a bootstrap."""
    global _SESSION_CACHE_DIR
    _SESSION_CACHE_DIR = tempfile.mkdtemp(prefix="promptstage-test-cache-")
    os.environ["PROMPTSTAGE_CACHE_DIR"] = _SESSION_CACHE_DIR


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
            _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: Engine, name: str) -> None:
    """Drop ``name`` in bounded time: no lock wait or statement lasts past ``DROP_TIMEOUT_MS``."""
    problem: DBAPIError | None = None
    for _ in range(DROP_ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"SET lock_timeout = {DROP_TIMEOUT_MS}")
                connection.exec_driver_sql(f"SET statement_timeout = {DROP_TIMEOUT_MS}")
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
                    {"name": name},
                )
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except DBAPIError as exc:
            problem = exc
    sys.stderr.write(f"\ncould not drop test database {name!r}: {problem}\n")


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
