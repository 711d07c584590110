"""One replica at a time leads (runs the controller and the webhook sender)."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_sqlite_leads_in_one_process_at_a_time_like_postgres(tmp_path: Path) -> None:
    """``serve --workers N`` on SQLite: one worker process runs the controller (a flock on a
    file beside the database), another takes over when it stops."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = SqlStore.from_url(url, migrate=True)
    try:
        lead = store.leadership("release-controller")
        assert lead.acquire() and lead.acquire()
        code = (
            "import sys; from promptstage.store.sql import SqlStore\n"
            f"s = SqlStore.from_url({url!r})\n"
            "print(s.leadership('release-controller').acquire(), "
            "s.leadership('other').acquire())"
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        run = [sys.executable, "-c", code]
        other = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
        assert other.stdout.split() == ["False", "True"], other.stderr
        lead.release()  # e.g. the leading worker stopped
        after = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
        assert after.stdout.split() == ["True", "True"], after.stderr
    finally:
        store.close()


def test_in_memory_sqlite_always_leads() -> None:
    store = SqlStore.from_url("sqlite://", migrate=True)
    try:
        one, two = store.leadership("ctl"), store.leadership("ctl")
        assert one.acquire() and two.acquire()
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
