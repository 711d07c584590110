"""Leadership among replicas: which process runs the release controller and the webhook sender.

On Postgres, a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated
connection kept for the process lifetime: the database releases it when that connection closes
or the process dies, and another replica takes it at its next try. On SQLite (one machine, maybe
several worker processes: ``serve --workers N``), an exclusive ``flock`` on a file beside the
database, ``<database>.leader-<name>.lock``, held on an open descriptor: the OS releases it
when the descriptor closes or the process dies. An in-memory SQLite database (one process) and
a platform without ``fcntl`` always lead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("promptstage.store")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    digest = hashlib.sha256(f"promptstage:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """Try to hold the advisory lock ``name``; ``acquire()`` says whether this process leads."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._key = lock_key(name)
        self._sqlite = engine.dialect.name == "sqlite"
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        database = engine.url.database if self._sqlite else None
        on_disk = bool(database) and database != ":memory:" and "mode=memory" not in str(engine.url)
        self._lock_path = f"{database}.leader-{name}.lock" if on_disk else None
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if free (or check it is still held); ``True`` while this process leads.

        A lost connection loses the lock: the next call reconnects and tries again.
        """
        if self._sqlite:
            return self._acquire_file()
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return True
                except DBAPIError:
                    log.warning("leadership connection lost; trying to lead again")
                    self._drop()
            try:
                conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except DBAPIError:
                return False
            try:
                held = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                    ).scalar()
                )
            except DBAPIError:
                conn.close()
                return False
            if held:
                self._conn = conn
                return True
            conn.close()
            return False

    def _acquire_file(self) -> bool:
        """SQLite: hold an exclusive ``flock`` on the lock file beside the database."""
        if self._lock_path is None:
            return True
        try:
            import fcntl
        except ImportError:  # no flock here (Windows): one process, as before
            return True
        with self._mutex:
            if self._fd is not None:
                return True
            try:
                fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                log.warning("cannot open the leader lock file %s: %s", self._lock_path, exc)
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._fd = fd
            return True

    def release(self) -> None:
        """Give the lock up (closing the connection, or the lock file, releases it)."""
        with self._mutex:
            self._drop()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never return a lock-holding connection to the pool
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
