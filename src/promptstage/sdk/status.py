"""What a client reports about its connection, and how it spaces its retries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["Backoff", "Source", "Status", "SyncState"]

SyncState = Literal["initializing", "connected", "stale", "offline"]
Source = Literal["server", "lkg", "bootstrap"]


@dataclass(frozen=True, slots=True)
class Status:
    """A point-in-time view of a client, from :meth:`Client.status`.

    Attributes:
        state: ``initializing`` (nothing held, first fetch under way), ``connected`` (the
            stream is open, or the last poll succeeded), ``stale`` (serving what is held while
            the server cannot be reached or refuses the key), ``offline`` (nothing held and
            the server cannot be reached: ``get`` uses ``fallback=`` or raises).
        last_seq: The event sequence number of the state held, or ``None``.
        last_error: Why the last sync attempt failed (``None`` after a success).
        last_sync_at: When the server last answered (UTC), or ``None``.
        dropped_calls: Call records and scores dropped because the queue was full or the
            server rejected them.
        source: Where the state held came from: ``server``, ``lkg``, ``bootstrap`` or ``None``.
        mode: ``stream`` while the event stream is the source of changes, else ``poll``.
        pending_calls: Records the server has not acknowledged yet (queued, or sent and
            unanswered).
        pins: The operator pins configured (``"prompt:label"`` -> version), served with
            ``arm="pinned"`` whatever the label points at (break-glass; see ``docs/sdk.md``).
        unmet_pins: Pins that cannot be served (their version is not held), as sentences.
        cache_warning: Why the last-known-good file cannot be written (or has no location),
            or ``None``; serving is unaffected, but a restart during an outage would start
            with nothing held.
    """

    state: SyncState
    last_seq: int | None
    last_error: str | None
    last_sync_at: datetime | None
    dropped_calls: int
    source: Source | None
    mode: Literal["stream", "poll"] = "stream"
    pending_calls: int = 0
    pins: dict[str, int] = field(default_factory=dict)
    unmet_pins: tuple[str, ...] = ()
    cache_warning: str | None = None


class Backoff:
    """Capped exponential backoff with jitter (LaunchDarkly's shape).

    The n-th delay is drawn from ``[d/2, d]`` with ``d = min(maximum, initial * 2**n)``;
    :meth:`reset` starts over (after a connection stayed healthy long enough).
    """

    __slots__ = ("_attempt", "_rng", "initial", "maximum")

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None) -> None:
        self.initial = initial
        self.maximum = max(maximum, initial)
        self._attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt, in seconds."""
        ceiling = min(self.maximum, self.initial * (2.0 ** min(self._attempt, 62)))
        self._attempt += 1
        return ceiling / 2 + self._rng.random() * ceiling / 2

    def reset(self) -> None:
        """Start again from ``initial``."""
        self._attempt = 0
