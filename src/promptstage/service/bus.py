"""In-process fan-out of committed events to subscribers (SSE streams, caches).

Each server process has one bus. Events committed by this process are published after commit;
events committed by other replicas arrive through the store's notification listener (Postgres
LISTEN/NOTIFY) and are published the same way. Subscribers must be cheap and never block.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from promptstage.domain.models import Event

Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._latest: dict[str, int] = {}

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` for every published event; returns the function that unsubscribes."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            if event.seq > self._latest.get(event.project, 0):
                self._latest[event.project] = event.seq
            subscribers = list(self._subscribers)
        for fn in subscribers:
            fn(event)

    def latest(self, project: str) -> int:
        """Highest sequence number published for ``project`` (0 when none seen)."""
        return self._latest.get(project, 0)
