"""Leadership among replicas: which process runs the release controller and the webhook sender.

On Postgres, a session-level advisory lock (``pg_try_advisory_lock``) taken on a dedicated
connection kept for the process lifetime: the database releases it when that connection closes
or the process dies, and another replica takes it at its next try. SQLite serves one process,
which always leads.
"""

from __future__ import annotations

import hashlib
import logging
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

    def acquire(self) -> bool:
        """Take the lock if free (or check it is still held); ``True`` while this process leads.

        A lost connection loses the lock: the next call reconnects and tries again.
        """
        if self._sqlite:
            return True
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

    def release(self) -> None:
        """Give the lock up (closing the connection releases it)."""
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()  # never return a lock-holding connection to the pool
                self._conn.close()
            except DBAPIError:
                pass
            self._conn = None
