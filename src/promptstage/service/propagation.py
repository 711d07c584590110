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
    """Publishes other replicas' events on this process's bus, each exactly in order.

    It keeps its own "published through" position per project rather than trusting
    ``bus.latest``: a local commit can publish a later sequence number before the notification
    of an earlier remote one arrives, and that remote event must still be published (the key
    cache, for one, has no other way to hear of a remote revocation). Re-publishing a local
    event is harmless: every subscriber ignores sequence numbers it has already seen.
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._through: dict[str, int] = {}

    def on_notify(self, project: str, seq: int) -> None:
        """Publish every event of ``project`` up to at least ``seq`` not yet published here."""
        with self._lock:
            through = self._through.setdefault(project, seq - 1)
            if seq > through:
                self._catch_up(project)

    def on_reconnect(self) -> None:
        """After the listener reconnects, notifications may have been missed: catch up all."""
        with self._lock:
            for project in list(self._through):
                self._catch_up(project)

    def _catch_up(self, project: str) -> None:
        while True:
            with self._ctx.store.unit_of_work() as uow:
                batch = uow.events_since(project, self._through[project], limit=1000)
            for event in batch:
                self._ctx.bus.publish(event)
                self._through[project] = event.seq
            if len(batch) < 1000:
                return
