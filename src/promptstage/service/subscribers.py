"""The open event streams of this process: which project each follows and the last sequence
number it was sent, so a page can say how many connected SDK clients have a change.

``event_stream`` registers a stream when it starts, moves its position on with every event it
yields, and removes it when it ends. The registry counts this process's streams only: behind a
load balancer each replica knows its own subscribers.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Propagation:
    """How far a change reached: ``up_to_date`` of the ``connected`` streams of a project
    were sent its sequence number (or a later one)."""

    connected: int
    up_to_date: int


class Subscribers:
    """A thread-safe registry: stream id -> (project, last sequence number sent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._streams: dict[int, tuple[str, int]] = {}

    def register(self, project: str, seq: int) -> int:
        """Record a new stream of ``project`` positioned at ``seq``; returns its id."""
        with self._lock:
            stream = next(self._ids)
            self._streams[stream] = (project, seq)
            return stream

    def sent(self, stream: int, seq: int) -> None:
        """Stream ``stream`` was sent event ``seq`` (positions only move forward)."""
        with self._lock:
            found = self._streams.get(stream)
            if found is not None and seq > found[1]:
                self._streams[stream] = (found[0], seq)

    def unregister(self, stream: int) -> None:
        """The stream ended (client gone, key revoked, server stopping)."""
        with self._lock:
            self._streams.pop(stream, None)

    def count(self, project: str, seq: int) -> Propagation:
        """How many streams follow ``project``, and how many of them were sent ``seq``."""
        with self._lock:
            positions = [last for name, last in self._streams.values() if name == project]
        return Propagation(len(positions), sum(1 for last in positions if last >= seq))
