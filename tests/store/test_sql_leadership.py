"""One replica at a time leads (runs the controller and the webhook sender)."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptstage.store.sql import SqlStore
from support import releases as releases_helpers

# The releases fixtures (tests/support/releases.py), resolved here before this folder's conftest.
releases_sqlite_template = releases_helpers.releases_sqlite_template
releases_postgres_url = releases_helpers.releases_postgres_url
release_store = releases_helpers.release_store
clock = releases_helpers.clock
ctx = releases_helpers.ctx
published = releases_helpers.published
seeded = releases_helpers.seeded


def test_sqlite_always_leads(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}", migrate=True)
    try:
        lead = store.leadership("release-controller")
        assert lead.acquire() and lead.acquire()
        lead.release()
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_advisory_lock_moves_to_another_replica(releases_postgres_url: str) -> None:
    one, two = SqlStore.from_url(releases_postgres_url), SqlStore.from_url(releases_postgres_url)
    try:
        first, second = one.leadership("release-controller"), two.leadership("release-controller")
        other = two.leadership("something-else")
        assert first.acquire()
        assert first.acquire()  # still held, checked on its own connection
        assert not second.acquire()
        assert other.acquire()  # another name is another lock
        first.release()  # e.g. the leading process stopped
        assert second.acquire()
        assert not first.acquire()
        second.release()
        other.release()
    finally:
        one.close()
        two.close()


@pytest.mark.postgres
def test_a_lost_connection_loses_the_lock_and_retries(releases_postgres_url: str) -> None:
    one, two = SqlStore.from_url(releases_postgres_url), SqlStore.from_url(releases_postgres_url)
    first, second = one.leadership("ctl"), two.leadership("ctl")
    try:
        assert first.acquire()
        with two.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # The timeout makes it wait until the backend has exited: its lock is gone then
            # (without it, the termination races the next acquire).
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid <> pg_backend_pid() AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        assert second.acquire()
        assert not first.acquire()  # noticed the lost connection, and the lock is taken
        second.release()
        assert first.acquire()
        first.release()
    finally:
        first.release()  # a failed assertion must not leave a lock-holding connection behind
        second.release()
        one.close()
        two.close()
