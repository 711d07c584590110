"""The suite's own Postgres databases are emptied and dropped in bounded time, even while a
session an earlier test left behind holds a lock on them (a teardown once hung past 120 s).
No wall-clock assertion: the bounds are Postgres's own lock_timeout and statement_timeout."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from promptstage.store.sql import SqlStore
from promptstage.store.sql.tables import metadata
from support.templates import drop_postgres_database, empty_postgres_database

pytestmark = pytest.mark.postgres
BOUND_MS = 3_000


def test_a_reset_ends_a_session_that_holds_a_lock_instead_of_waiting_for_it(
    make_postgres_database: Callable[[], str],
) -> None:
    url = make_postgres_database()
    SqlStore.from_url(url, migrate=True).close()
    table = metadata.sorted_tables[0].name
    holder = create_engine(url, poolclass=NullPool).connect()
    try:
        holder.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # then idle
        # Without ending the holder, the reset would wait out its bound and fail the test.
        empty_postgres_database(url, timeout_ms=BOUND_MS)
        with pytest.raises(Exception, match="terminat"):
            holder.exec_driver_sql("SELECT 1")
    finally:
        holder.invalidate()
        holder.close()


def test_a_drop_ends_the_sessions_of_the_database(
    make_postgres_database: Callable[[], str],
) -> None:
    url = make_postgres_database()
    name = make_url(url).database
    holder = create_engine(url, poolclass=NullPool).connect()
    admin = create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        holder.exec_driver_sql("CREATE TABLE held (x int)")  # an open transaction with a lock
        # The drop waits for a checkpoint, which a busy server (a bulk load in another test
        # session) can make slow: the bound here is generous, the holder is what is tested.
        drop_postgres_database(admin, str(name), timeout_ms=60_000)
        with admin.connect() as connection:
            left = connection.execute(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar_one()
        assert left == 0
    finally:
        holder.invalidate()
        holder.close()
        admin.dispose()
