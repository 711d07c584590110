"""Bringing other replicas' events onto this process's bus.

The store calls ``on_notify(project, seq)`` when another process commits an event (Postgres
LISTEN/NOTIFY). Events are read back from the outbox in order and published, so SSE streams
and caches here see exactly what the writer committed, in sequence, whichever replica wrote it.
"""

from __future__ import annotations

import logging
import threading

from .context import Context

log = logging.getLogger("promptstage.propagation")


class Propagator:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._known: set[str] = set()

    def on_notify(self, project: str, seq: int) -> None:
        """Publish every event of ``project`` up to at least ``seq`` not yet seen here."""
        with self._lock:
            self._known.add(project)
            if seq > self._ctx.bus.latest(project):
                self._catch_up(project)

    def on_reconnect(self) -> None:
        """After the listener reconnects, notifications may have been missed: catch up all."""
        with self._lock:
            for project in list(self._known):
                self._catch_up(project)

    def _catch_up(self, project: str) -> None:
        while True:
            with self._ctx.store.unit_of_work() as uow:
                batch = uow.events_since(project, self._ctx.bus.latest(project), limit=1000)
            for event in batch:
                self._ctx.bus.publish(event)
            if len(batch) < 1000:
                return
