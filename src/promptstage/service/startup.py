"""A server started while its database cannot be reached: the migrations wait for it.

Until they have run, :class:`StartupGate` holds the reason and the API answers 503 with it
(``api/startup.py``); :func:`migrate_when_reachable` retries them in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from promptstage.errors import ServiceUnavailableError

__all__ = ["StartupGate", "migrate_when_reachable"]

log = logging.getLogger("promptstage")


class StartupGate:
    """Why the server cannot answer yet (``reason``), or ``None`` once it can."""

    def __init__(self, reason: str | None) -> None:
        self.reason = reason


async def migrate_when_reachable(
    gate: StartupGate, migrate: Callable[[], None], interval: float = 2.0
) -> None:
    """Run ``migrate`` every ``interval`` seconds until it succeeds, then open ``gate``.

    Args:
        gate: Holds the last reason while the database cannot be reached.
        migrate: Creates or upgrades the schema; raises ``ServiceUnavailableError`` while the
            database cannot be reached.
        interval: Seconds between two attempts.
    """
    while True:
        try:
            await asyncio.to_thread(migrate)
        except ServiceUnavailableError as exc:
            gate.reason = exc.message
            await asyncio.sleep(interval)
            continue
        gate.reason = None
        log.warning("promptstage: the database answers; migrations are up to date, serving")
        return
