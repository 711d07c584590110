"""Cross-replica change notification: Postgres ``LISTEN`` on the outbox channel.

Every event row written on Postgres also sends ``NOTIFY promptstage_events, '<seq>:<project>'``
in the same transaction. ``Listener`` keeps one dedicated connection listening and calls back
with ``(project, seq)``; it reconnects with backoff when the connection drops. SQLite is a
single process: its events are published in-process and need no listener.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import URL, make_url

from .ledger import NOTIFY_CHANNEL

log = logging.getLogger("promptstage.store")

Callback = Callable[[str, int], None]


class Listener:
    """A daemon thread listening for outbox notifications on Postgres."""

    def __init__(
        self, url: str | URL, callback: Callback, *, on_reconnect: Callable[[], None] | None = None
    ) -> None:
        parsed = make_url(url)
        self._dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._callback = callback
        self._on_reconnect = on_reconnect
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="promptstage-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    if not first and self._on_reconnect is not None:
                        self._on_reconnect()  # we may have missed notifications meanwhile
                    first = False
                    delay = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0, stop_after=None):
                            self._dispatch(note.payload)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("LISTEN connection lost (%s); reconnecting in %.1fs", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _dispatch(self, payload: str) -> None:
        seq, _, project = payload.partition(":")
        if seq.isdigit() and project:
            try:
                self._callback(project, int(seq))
            except Exception:
                log.exception("event listener callback failed")
