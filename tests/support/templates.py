"""Per-test migrated databases without a migration per test (``tests/conftest.py`` holds the
session fixtures): SQLite copies the session's migrated template file; Postgres empties the
session's migrated database (creating one costs a migration, dropping it a checkpoint)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from promptstage.store.sql.tables import metadata

RESET_TIMEOUT_MS = 10_000  # the longest a reset may wait for a lock or run
# Dropping a test database must never hang the session: every statement of the teardown is
# bounded, the database's sessions are terminated first, and a drop that still fails is
# retried, then reported (a leftover test database is not a test failure).
DROP_TIMEOUT_MS = 10_000
DROP_ATTEMPTS = 3


def fresh_migrated_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """A migrated database of ``backend`` holding nothing, for one test."""
    if backend == "sqlite":
        path = directory / "promptstage.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("shared_migrated_postgres_url")
    empty_postgres_database(url)
    return url


def empty_postgres_database(url: str, timeout_ms: int = RESET_TIMEOUT_MS) -> None:
    """Empty every table of the migrated database at ``url`` in bounded time.

    A session an earlier test left open (a server thread, a leaked connection idle in a
    transaction) would hold a lock that ``TRUNCATE`` waits for without end: such sessions are
    terminated first (each test gets the database alone), and the lock wait and the statement
    are bounded, so a reset that still cannot finish fails the test with a message, never hangs.
    """
    names = ", ".join(table.name for table in metadata.sorted_tables)
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")
            connection.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    except DBAPIError as exc:
        pytest.fail(
            f"could not empty the shared Postgres test database within {timeout_ms} ms "
            f"(a session kept a lock on it?): {exc.orig}",
            pytrace=False,
        )
    finally:
        engine.dispose()


def drop_postgres_database(admin: Engine, name: str, timeout_ms: int = DROP_TIMEOUT_MS) -> None:
    """Drop ``name`` in bounded time: no lock wait or statement lasts past ``timeout_ms``."""
    problem: DBAPIError | None = None
    for _ in range(DROP_ATTEMPTS):
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"SET lock_timeout = {timeout_ms}")
                connection.exec_driver_sql(f"SET statement_timeout = {timeout_ms}")
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
