"""The background jobs a server runs beside its API, described in one list and run as one.

:func:`build_jobs` is that list: call-log, idempotency-key and UI-session pruning, drift
announcements left behind by a stopped server, and, on the replica that holds the leader
lock, the release controller and webhook delivery; the eval runner on every replica (claim-based). A new job (an eval runner, a span exporter)
is one more :class:`Job` line there. :func:`running` starts the store watcher and every job, and
on shutdown cancels and awaits the jobs, releases the leadership, closes what the jobs opened
and stops the watcher, in that order.

Values come in plain (intervals, retention days, a built sender): this module never reads
settings; ``create_app`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from promptstage.errors import PromptstageError
from promptstage.store.base import Leadership, Store

from . import controller, idempotency, sessions
from . import webhooks as webhook_service
from .calls import prune_calls
from .context import Context
from .deps_drift import announce_missed
from .eval_runner import EvalRunner
from .propagation import Propagator
from .startup import StartupGate, migrate_when_reachable

# The name these messages have always been logged under (they lived in server.py).
log = logging.getLogger("promptstage.server")


@dataclass(frozen=True, slots=True)
class Job:
    """One background loop of the server.

    Attributes:
        name: A short name for the loop (also its asyncio task's name).
        run: Makes the coroutine that runs the loop until it is cancelled.
        needs_leadership: True when the loop acts only while this replica holds the leader
            lock (the loop asks the lock itself on every pass).
        close: Releases what the job holds open, called after every job has stopped.
    """

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    needs_leadership: bool = False
    close: Callable[[], None] | None = None


def build_jobs(
    ctx: Context,
    leadership: Leadership,
    *,
    sender: webhook_service.WebhookSender,
    controller_interval: float,
    webhook_poll_seconds: float,
    call_retention_days: float,
    eval_runner: EvalRunner | None = None,
    migrate: Callable[[], None] | None = None,
    startup_gate: StartupGate | None = None,
) -> list[Job]:
    """The server's background jobs, in the order they start.

    Args:
        ctx: The service context the jobs work in.
        leadership: The replica-wide leader lock; one replica leads (Postgres advisory lock;
            SQLite: this process) and runs the jobs that need it.
        sender: Delivers webhooks; closed on shutdown.
        controller_interval: Seconds between release-controller looks.
        webhook_poll_seconds: Seconds between webhook delivery passes.
        call_retention_days: Age after which logged calls are pruned.
        eval_runner: Executes queued eval runs (every replica runs one: a run is claimed
            with a conditional update, so two replicas never run the same run); ``None``: none.
        migrate: The migrations, when the database could not be reached at start: retried
            until they run, then ``startup_gate`` opens.
        startup_gate: What the API answers 503 with until then.

    Returns:
        The jobs, for :func:`running`.
    """
    jobs = [
        Job(
            "call-pruning",
            partial(
                prune_forever,
                f"calls older than {call_retention_days} days",
                partial(prune_calls, ctx, call_retention_days),
            ),
        ),
        Job(
            "idempotency-pruning",
            partial(prune_forever, "expired idempotency keys", partial(idempotency.prune, ctx)),
        ),
        Job(
            "session-pruning",
            partial(prune_forever, "ended UI sessions", partial(sessions.prune_sessions, ctx)),
        ),
        Job("drift-announcements", partial(announce_missed_forever, ctx)),
        Job(
            "release-controller",
            partial(controller.run_forever, ctx, leadership, controller_interval),
            needs_leadership=True,
        ),
        Job(
            "webhook-delivery",
            partial(webhook_service.run_forever, sender, leadership, webhook_poll_seconds),
            needs_leadership=True,
            close=sender.close,
        ),
    ]
    if eval_runner is not None:
        jobs.append(Job("eval-runner", eval_runner.run_forever))
    if migrate is not None and startup_gate is not None:
        jobs.insert(
            0, Job("migrate-when-reachable", partial(migrate_when_reachable, startup_gate, migrate))
        )
    return jobs


@asynccontextmanager
async def running(
    store: Store, propagator: Propagator, jobs: Sequence[Job], leadership: Leadership
) -> AsyncIterator[None]:
    """Watch the store and run ``jobs`` for the duration of the ``async with`` block.

    Args:
        store: The store whose cross-process events the propagator hears.
        propagator: Receives the store's notifications and reconnects.
        jobs: What to run (see :func:`build_jobs`).
        leadership: The leader lock the jobs share; released once they have stopped.
    """
    stop_watching = store.watch(propagator.on_notify, propagator.on_reconnect)
    tasks = [asyncio.create_task(job.run(), name=job.name) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(leadership.release)
        for job in jobs:
            if job.close is not None:
                job.close()
        if stop_watching is not None:
            await asyncio.to_thread(stop_watching)


async def prune_forever(what: str, prune: Callable[[], int]) -> None:
    """Run a retention pass once an hour (first pass a minute after start).

    Args:
        what: What ``prune`` removes, for the log (``calls older than 30 days``).
        prune: Deletes what is past its retention; returns how many rows it removed.
    """
    await asyncio.sleep(60)
    while True:
        try:
            removed = await asyncio.to_thread(prune)
            if removed:
                log.info("retention: removed %d %s", removed, what)
        except PromptstageError as exc:
            log.warning("retention pass failed: %s", exc.message)
        await asyncio.sleep(3600)


MISSED_DRIFT_SECONDS = 60.0
"""How often each replica announces the drift a stopped server left unannounced."""


async def announce_missed_forever(ctx: Context, interval: float = MISSED_DRIFT_SECONDS) -> None:
    """Announce the ``deps.drift`` events a stopped server left behind, every ``interval``
    seconds (each claimed in the transaction that writes it: replicas never write one twice)."""
    while True:
        await asyncio.sleep(interval)
        try:
            written = await asyncio.to_thread(announce_missed, ctx)
            if written:
                log.info("deps: announced %d drift mismatch(es) a stopped server left", written)
        except PromptstageError as exc:
            log.warning("announcing missed drift failed: %s", exc.message)
