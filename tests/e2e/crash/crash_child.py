"""Child process of the crash tests: one change through the service layer, killed at a fault point.

    python crash_child.py DATABASE_URL ACTION POINT

ACTION is ``move`` (point label ``prod`` of prompt ``greet`` in project ``clinic`` at version
2) or ``promote`` (complete the prompt's only active release). POINT is ``METHOD[:N]``: the
process ``os._exit(137)``s right after the N-th call (default 1) of ``SqlUnitOfWork.METHOD``
returned; ``commit`` exits just before the write transaction commits; ``published`` just after
it committed (when the bus announces the first event). Nothing here touches production code:
the hooks are monkeypatches of this process only.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from sqlalchemy import event

from promptstage.service import labels, releases
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from promptstage.store.sql.uow import SqlUnitOfWork

KILLED = 137
PROJECT, PROMPT, LABEL = "clinic", "greet", "prod"


def _die_after(method: str, nth: int) -> None:
    original = getattr(SqlUnitOfWork, method)
    calls = 0

    def wrapper(self: SqlUnitOfWork, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = original(self, *args, **kwargs)
        calls += 1
        if calls == nth:
            os._exit(KILLED)
        return result

    setattr(SqlUnitOfWork, method, wrapper)


def _arm(point: str, store: SqlStore, bus: EventBus) -> None:
    if point == "commit":
        writing = {"armed": False}
        original = SqlUnitOfWork.lock_project

        def lock(self: SqlUnitOfWork, name: str) -> Any:
            writing["armed"] = True  # only the write transaction's commit is fatal
            return original(self, name)

        SqlUnitOfWork.lock_project = lock  # type: ignore[method-assign]

        @event.listens_for(store.engine, "commit")
        def _before_commit(connection: Any) -> None:
            if writing["armed"]:
                os._exit(KILLED)

    elif point == "published":
        bus.publish = lambda _event: os._exit(KILLED)  # type: ignore[method-assign]
    else:
        method, _, nth = point.partition(":")
        _die_after(method, int(nth or 1))


def main(url: str, action: str, point: str) -> None:
    store = SqlStore.from_url(url)
    bus = EventBus()
    ctx = Context(store=store, bus=bus)
    _arm(point, store, bus)
    if action == "move":
        labels.move_label(ctx, "key:crash", PROJECT, PROMPT, LABEL, 2, reason="crash test")
    elif action == "promote":
        (active,) = releases.active_for_prompt(ctx, PROJECT, PROMPT)
        releases.act(ctx, "key:crash", PROJECT, active.id, "promote", "crash test")
    else:
        raise SystemExit(f"unknown action {action!r}")
    store.close()
    sys.exit(0)  # the fault point was never reached


if __name__ == "__main__":
    main(*sys.argv[1:4])
