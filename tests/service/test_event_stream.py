"""The event stream protocol (service/event_stream.py) on a real store: hello, replay, reset,
gap-fill from the store, de-duplication, heartbeats, the end on the stream key's revocation, and
what each role is shown (issue 11, defect 6: key-management events reach admin streams only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import pytest

from promptstage.domain.models import Event, Role
from promptstage.errors import NotFoundError
from promptstage.service import event_stream as event_stream_module
from promptstage.service import keys, prompts
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.service.event_stream import (
    Frame,
    Heartbeat,
    Notice,
    Withheld,
    current_seq,
    event_stream,
)

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
WAIT = 5.0  # seconds a frame may take before the test fails instead of hanging


async def never_disconnected() -> bool:
    return False


def make_project(ctx: Context, project: str, versions: int = 2) -> int:
    """A project with a prompt and ``versions`` versions; returns its current sequence number."""
    prompts.create_project(ctx, "test", project)
    prompts.create_prompt(ctx, "test", project, "greet", "text")
    for n in range(versions):
        add_version(ctx, project, f"v{n}")
    return current_seq(ctx, project)


def add_version(ctx: Context, project: str, template: str) -> None:
    prompts.write_version(ctx, "test", project, "greet", template=template, config={"model": MODEL})


def stream(
    ctx: Context,
    project: str,
    position: int | None,
    *,
    key_prefix: str | None = None,
    role: Role = Role.admin,
    heartbeat_seconds: float = WAIT,
    is_disconnected: Callable[[], Awaitable[bool]] = never_disconnected,
) -> AsyncGenerator[Frame, None]:
    return event_stream(
        ctx,
        project,
        position,
        key_prefix=key_prefix,
        role=role,
        heartbeat_seconds=heartbeat_seconds,
        is_disconnected=is_disconnected,
    )


async def take(frames: AsyncGenerator[Frame, None], count: int) -> list[Frame]:
    return [await asyncio.wait_for(anext(frames), WAIT) for _ in range(count)]


async def drained(frames: AsyncGenerator[Frame, None]) -> list[Frame]:
    """Every frame left until the stream ends (it must end within ``WAIT``)."""

    async def rest() -> list[Frame]:
        return [frame async for frame in frames]

    return await asyncio.wait_for(rest(), WAIT)


def seqs(frames: list[Frame]) -> list[int]:
    return [f.seq for f in frames if isinstance(f, Event | Withheld)]


def shown(frames: list[Frame]) -> list[tuple[int, str]]:
    """``(seq, type)`` of each numbered frame; a withheld event reads ``"withheld"``."""
    return [
        (f.seq, f.type if isinstance(f, Event) else "withheld")
        for f in frames
        if isinstance(f, Event | Withheld)
    ]


def run(body: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(body())


def test_hello_then_replay_then_live(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)

    async def body() -> None:
        frames = stream(ctx, project, 0)
        first = await take(frames, 1 + current)
        assert first[0] == Notice("hello", current)
        assert seqs(first[1:]) == list(range(1, current + 1))
        add_version(ctx, project, "live")
        (live,) = await take(frames, 1)
        assert isinstance(live, Event) and (live.seq, live.type) == (current + 1, "version.created")
        await frames.aclose()

    run(body)


def test_without_a_position_only_new_events_follow_hello(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)

    async def body() -> None:
        frames = stream(ctx, project, None)
        assert await take(frames, 1) == [Notice("hello", current)]
        add_version(ctx, project, "live")
        assert seqs(await take(frames, 1)) == [current + 1]
        await frames.aclose()

    run(body)


def test_reset_when_the_client_is_ahead(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)

    async def body() -> None:
        frames = stream(ctx, project, current + 100)
        assert await take(frames, 2) == [Notice("hello", current), Notice("reset", current)]
        add_version(ctx, project, "live")
        assert seqs(await take(frames, 1)) == [current + 1]
        await frames.aclose()

    run(body)


def test_gap_fill_from_the_store_when_a_live_event_skips_numbers(
    ctx: Context, project: str
) -> None:
    current = make_project(ctx, project)
    # Another replica: same database, its own bus, so its commits never reach this stream live.
    other = Context(store=ctx.store, bus=EventBus(), clock=ctx.clock)

    async def body() -> None:
        frames = stream(ctx, project, None)
        assert await take(frames, 1) == [Notice("hello", current)]
        add_version(other, project, "elsewhere 1")
        add_version(other, project, "elsewhere 2")
        add_version(ctx, project, "here")
        assert seqs(await take(frames, 3)) == [current + 1, current + 2, current + 3]
        await frames.aclose()

    run(body)


@pytest.mark.parametrize("position", [None, "behind"])
def test_replay_and_gap_fill_read_every_batch(
    ctx: Context, project: str, position: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More missed events than one store read returns: every batch is read, none is skipped.
    monkeypatch.setattr(event_stream_module, "BATCH", 2)
    current = make_project(ctx, project)
    start = 0 if position == "behind" else None
    other = Context(store=ctx.store, bus=EventBus(), clock=ctx.clock)

    async def body() -> None:
        frames = stream(ctx, project, start)
        missed = list(range(1, current + 1)) if start == 0 else []
        assert seqs(await take(frames, 1 + len(missed))) == missed
        for n in range(5):
            add_version(other, project, f"elsewhere {n}")
        add_version(ctx, project, "here")
        assert seqs(await take(frames, 6)) == list(range(current + 1, current + 7))
        await frames.aclose()

    run(body)


def test_events_already_sent_are_not_sent_again(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)
    sent: list[Event] = []

    async def body() -> None:
        frames = stream(ctx, project, 0)
        replayed = await take(frames, 1 + current)
        sent.extend(f for f in replayed if isinstance(f, Event))
        for event in sent:  # published again (a second notification of the same commit)
            ctx.bus.publish(event)
        add_version(ctx, project, "new")
        assert seqs(await take(frames, 1)) == [current + 1]
        ctx.bus.publish(sent[-1])
        add_version(ctx, project, "newer")
        assert seqs(await take(frames, 1)) == [current + 2]
        await frames.aclose()

    run(body)


def test_events_of_other_projects_are_not_sent(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)
    make_project(ctx, f"{project}-other")

    async def body() -> None:
        frames = stream(ctx, project, None)
        assert await take(frames, 1) == [Notice("hello", current)]
        add_version(ctx, f"{project}-other", "elsewhere")
        add_version(ctx, project, "here")
        assert seqs(await take(frames, 1)) == [current + 1]
        await frames.aclose()

    run(body)


def test_the_stream_ends_when_its_own_key_is_revoked(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)
    own, _ = keys.create_key(ctx, "test", project, "own", "runtime")
    other, _ = keys.create_key(ctx, "test", project, "other", "runtime")

    async def body() -> None:
        frames = stream(ctx, project, None, key_prefix=own.prefix)
        assert await take(frames, 1) == [Notice("hello", current + 2)]
        keys.revoke_key(ctx, "test", project, other.prefix)
        (revoked_other,) = await take(frames, 1)
        assert isinstance(revoked_other, Event) and revoked_other.type == "key.revoked"
        keys.revoke_key(ctx, "test", project, own.prefix)
        add_version(ctx, project, "after")  # committed before the stream reads on: not sent
        rest = await drained(frames)
        assert len(rest) == 1 and isinstance(rest[0], Event)
        assert rest[0].type == "key.revoked" and rest[0].data["prefix"] == own.prefix

    run(body)


def test_the_replay_ends_at_the_revocation_of_its_own_key(ctx: Context, project: str) -> None:
    current = make_project(ctx, project)
    own, _ = keys.create_key(ctx, "test", project, "own", "runtime")
    keys.revoke_key(ctx, "test", project, own.prefix)
    add_version(ctx, project, "after")

    async def body() -> None:
        frames = stream(ctx, project, current, key_prefix=own.prefix)
        replayed = await drained(frames)
        assert replayed[0] == Notice("hello", current + 3)
        assert seqs(replayed) == [current + 1, current + 2]

    run(body)


def test_heartbeats_while_idle_and_the_end_when_the_client_is_gone(
    ctx: Context, project: str
) -> None:
    current = make_project(ctx, project)
    answers = iter([False, True])

    async def gone() -> bool:
        return next(answers)

    async def body() -> None:
        frames = stream(ctx, project, None, heartbeat_seconds=0.01, is_disconnected=gone)
        assert await drained(frames) == [Notice("hello", current), Heartbeat()]

    run(body)


def test_subscribed_only_while_iterated_and_an_unknown_project_is_refused(
    ctx: Context, project: str
) -> None:
    make_project(ctx, project)

    async def body() -> None:
        frames = stream(ctx, project, None)
        assert ctx.bus._subscribers == []
        await take(frames, 1)
        assert len(ctx.bus._subscribers) == 1
        await frames.aclose()
        assert ctx.bus._subscribers == []
        with pytest.raises(NotFoundError):
            await take(stream(ctx, "no-such-project", None), 1)
        assert ctx.bus._subscribers == []

    run(body)


KEY_EVENTS = ("key.created", "key.revoked")


@pytest.mark.parametrize(
    ("role", "sees_keys"),
    [(Role.runtime, False), (Role.editor, False), (Role.releaser, False), (Role.admin, True)],
)
def test_key_events_reach_admin_streams_only_replayed_and_live(
    ctx: Context, project: str, role: Role, sees_keys: bool
) -> None:
    current = make_project(ctx, project)
    replayed_key, _ = keys.create_key(ctx, "test", project, "ci", "admin")
    keys.revoke_key(ctx, "test", project, replayed_key.prefix)

    async def body() -> None:
        frames = stream(ctx, project, current, role=role)
        first = await take(frames, 3)
        live_key, _ = keys.create_key(ctx, "test", project, "ops", "admin")
        add_version(ctx, project, "live")
        rest = await take(frames, 2)
        await frames.aclose()
        numbered = [f for f in first + rest if not isinstance(f, Notice)]
        assert seqs(numbered) == list(range(current + 1, current + 5))  # no number skipped
        types = [t for _, t in shown(numbered)]
        key_frames = [f for f in numbered if isinstance(f, Event) and f.type in KEY_EVENTS]
        if sees_keys:
            assert types == ["key.created", "key.revoked", "key.created", "version.created"]
            assert key_frames[-1].data["prefix"] == live_key.prefix
        else:
            assert types == ["withheld", "withheld", "withheld", "version.created"]
            assert key_frames == []
            assert all(f == Withheld(f.seq) for f in numbered if isinstance(f, Withheld))

    run(body)


def test_a_runtime_stream_ends_at_its_own_revocation_without_seeing_it(
    ctx: Context, project: str
) -> None:
    current = make_project(ctx, project)
    own, _ = keys.create_key(ctx, "test", project, "own", "runtime")
    other, _ = keys.create_key(ctx, "test", project, "other", "runtime")

    async def body() -> None:
        frames = stream(ctx, project, None, key_prefix=own.prefix, role=Role.runtime)
        assert await take(frames, 1) == [Notice("hello", current + 2)]
        keys.revoke_key(ctx, "test", project, other.prefix)
        assert await take(frames, 1) == [Withheld(current + 3)]  # the stream goes on
        keys.revoke_key(ctx, "test", project, own.prefix)
        add_version(ctx, project, "after")
        assert await drained(frames) == [Withheld(current + 4)]  # then it ends

    run(body)


def test_the_gap_fill_counts_withheld_events_and_does_not_replay_them_again(
    ctx: Context, project: str
) -> None:
    current = make_project(ctx, project)
    other = Context(store=ctx.store, bus=EventBus(), clock=ctx.clock)

    async def body() -> None:
        frames = stream(ctx, project, None, role=Role.runtime)
        assert await take(frames, 1) == [Notice("hello", current)]
        keys.create_key(other, "test", project, "elsewhere", "admin")  # never heard live
        add_version(ctx, project, "here")
        assert shown(await take(frames, 2)) == [
            (current + 1, "withheld"),
            (current + 2, "version.created"),
        ]
        add_version(ctx, project, "next")  # no second replay of the withheld one
        assert shown(await take(frames, 1)) == [(current + 3, "version.created")]
        await frames.aclose()

    run(body)
