"""The server's background jobs: one list, started together, stopped in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from promptstage.service import webhooks as webhook_service
from promptstage.service import workers
from promptstage.service.context import Context
from promptstage.service.workers import Job, build_jobs, running


class _Recorder:
    """A store, leadership and propagator in one, writing what happens to ``events``."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def watch(self, callback: Any, on_reconnect: Any) -> Callable[[], None]:
        self.events.append("watch")
        return lambda: self.events.append("stop watching")

    def release(self) -> None:
        self.events.append("release leadership")

    def on_notify(self, project: str, seq: int) -> None: ...

    def on_reconnect(self) -> None: ...


def test_build_jobs_lists_pruning_then_the_leader_jobs(ctx: Context) -> None:
    recorder = _Recorder()
    sender = webhook_service.WebhookSender(ctx)
    jobs = build_jobs(
        ctx,
        recorder,  # type: ignore[arg-type]
        sender=sender,
        controller_interval=1.0,
        webhook_poll_seconds=1.0,
        call_retention_days=30.0,
    )
    sender.close()
    assert [(job.name, job.needs_leadership) for job in jobs] == [
        ("call-pruning", False),
        ("idempotency-pruning", False),
        ("session-pruning", False),
        ("drift-announcements", False),
        ("release-controller", True),
        ("webhook-delivery", True),
    ]
    assert jobs[5].close == sender.close


def test_the_drift_job_announces_what_a_stopped_server_left(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[Context] = []

    def announce(given: Context) -> int:
        passes.append(given)
        if len(passes) == 2:
            raise asyncio.CancelledError  # ends the loop after its second pass
        return 1

    monkeypatch.setattr(workers, "announce_missed", announce)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(workers.announce_missed_forever(ctx, interval=0.0))
    assert passes == [ctx, ctx]


def test_running_starts_every_job_and_stops_them_in_order() -> None:
    recorder = _Recorder()

    def job(name: str) -> Job:
        async def loop() -> None:
            recorder.events.append(f"start {name}")
            try:
                await asyncio.sleep(3600)
            finally:
                recorder.events.append(f"stop {name}")

        return Job(name, loop, close=lambda: recorder.events.append(f"close {name}"))

    async def serve() -> None:
        async with running(recorder, recorder, [job("a"), job("b")], recorder):  # type: ignore[arg-type]
            await asyncio.sleep(0)
            recorder.events.append("serving")

    asyncio.run(serve())
    assert recorder.events == [
        "watch",
        "start a",
        "start b",
        "serving",
        "stop a",
        "stop b",
        "release leadership",
        "close a",
        "close b",
        "stop watching",
    ]
