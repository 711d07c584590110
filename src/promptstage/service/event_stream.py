"""The event stream protocol: what a client following a project's changes is sent, in order.

A stream opens with ``hello`` (the project's current sequence number), then replays what the
client missed since its position (or ``reset`` when it claims to be ahead of the server), then
follows the bus live: events arrive once each, in sequence order, with gaps filled from the
store. It ends when an event revokes the key it was opened with, or when the client is gone.
What a stream shows depends on the role of its key (:func:`visible`): key-management events
reach admin keys only; other streams get them as ``Withheld`` (the number, nothing else), so
their positions move on without a gap and ``Last-Event-ID`` resumes as before.
Every open stream is in ``ctx.subscribers`` with the last sequence number it was sent
(``service/subscribers.py``), so the UI can say how many connected clients have a change.
This module decides what to send; the HTTP route turns each frame into Server-Sent Events bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from promptstage.domain.events import EventType, StreamSignal
from promptstage.domain.models import Event, Role

from .context import Context
from .prompts import require_project
from .subscribers import Propagation

QUEUE_SIZE = 10_000  # live events buffered per stream; beyond it they are read back from the store
BATCH = 1_000  # events read from the store at a time


@dataclass(frozen=True, slots=True)
class Notice:
    """A message without an id: ``hello`` opens every stream with the current sequence
    number; ``reset`` tells a client ahead of the server to start again from ``seq``."""

    name: StreamSignal
    seq: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing happened for a while; the connection is kept open."""


@dataclass(frozen=True, slots=True)
class Withheld:
    """Event number ``seq``, which this stream's role may not see: sent as its number only, so
    the client's position moves on (a skipped number would read as missed events)."""

    seq: int


Frame = Event | Withheld | Notice | Heartbeat

LEAST_ROLE: Final[Mapping[str, Role]] = {
    # Key management is for those who manage keys (GET /keys needs admin): a runtime key must
    # not learn the roles and prefixes of admin keys.
    EventType.KEY_CREATED: Role.admin,
    EventType.KEY_REVOKED: Role.admin,
}
"""The least role that sees an event type; every other type is runtime data (prompts,
versions, labels, releases), seen by every key."""


def visible(event: Event, role: Role) -> bool:
    """True when a stream opened with a key of ``role`` may see ``event`` whole."""
    return role.rank >= LEAST_ROLE.get(event.type, Role.runtime).rank


def _shown(event: Event, role: Role) -> Event | Withheld:
    """``event`` as a stream of ``role`` gets it."""
    return event if visible(event, role) else Withheld(event.seq)


def current_seq(ctx: Context, project: str) -> int:
    """The sequence number of ``project``'s latest event (0 when none).

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return int(uow.last_event_seq(project))


def revokes(event: Event, key_prefix: str | None) -> bool:
    """True when ``event`` revokes the key ``key_prefix``: a stream opened with it must end (its
    client then reconnects and is refused), not keep serving changes to a revoked key."""
    return (
        event.type == EventType.KEY_REVOKED
        and key_prefix is not None
        and isinstance(event.data, dict)
        and event.data.get("prefix") == key_prefix
    )


async def event_stream(
    ctx: Context,
    project: str,
    position: int | None,
    *,
    key_prefix: str | None,
    role: Role,
    heartbeat_seconds: float,
    is_disconnected: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[Frame, None]:
    """Follow ``project``'s events from ``position``, forever or until told to stop.

    The bus is subscribed when iteration starts, not when this is called: a caller that never
    iterates (a client gone before the body is sent) leaves no subscriber behind. Close the
    iterator (``contextlib.aclosing``) to unsubscribe promptly.

    Args:
        ctx: The service context; its bus brings live events, its store the missed ones.
        project: The project to follow.
        position: The last sequence number the client has seen; ``None``: only new events.
        key_prefix: The prefix of the key the stream was opened with; the stream ends after
            the event revoking it (withheld too, for a role that may not see it). ``None``: no
            key to watch.
        role: The role of that key: the events it may not see (:func:`visible`) are yielded
            as ``Withheld``.
        heartbeat_seconds: How long without an event before a ``Heartbeat`` is yielded.
        is_disconnected: Asked when a heartbeat is due; ``True`` ends the stream.

    Yields:
        ``Notice("hello")`` first, ``Notice("reset")`` when ``position`` is ahead of the
        project, then each ``Event`` (or ``Withheld``) once, in sequence order, and
        ``Heartbeat`` when idle.

    Raises:
        NotFoundError: the project does not exist (checked when iteration starts).
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def on_event(event: Event) -> None:
        if event.project == project:
            loop.call_soon_threadsafe(_offer, queue, event)

    # Subscribe first, then read the position: nothing committed in between is lost.
    unsubscribe = ctx.bus.subscribe(on_event)
    stream: int | None = None
    try:
        current = await asyncio.to_thread(current_seq, ctx, project)
        last = current if position is None else position
        if position is not None and position > current:
            last = current
        # Known to the registry from hello on, at the position the client holds.
        stream = ctx.subscribers.register(project, last)
        yield Notice(StreamSignal.HELLO, current)
        if position is not None and position > current:
            yield Notice(StreamSignal.RESET, current)
        async for event in _stored(ctx, project, last, current):
            yield _shown(event, role)
            last = event.seq
            ctx.subscribers.sent(stream, last)
            if revokes(event, key_prefix):
                return
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=heartbeat_seconds)
            except TimeoutError:
                if await is_disconnected():
                    return
                yield Heartbeat()
                continue
            if event.seq <= last:  # already sent (replayed, or published twice)
                continue
            # Missed some (queue overflow, another replica's commits): replay them from the store.
            async for missed in _stored(ctx, project, last, event.seq - 1):
                yield _shown(missed, role)
                last = missed.seq
                ctx.subscribers.sent(stream, last)
                if revokes(missed, key_prefix):
                    return
            yield _shown(event, role)
            last = event.seq
            ctx.subscribers.sent(stream, last)
            if revokes(event, key_prefix):
                return
    finally:
        if stream is not None:
            ctx.subscribers.unregister(stream)
        unsubscribe()


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    """Queue ``event`` unless the queue is full (the gap is filled from the store later)."""
    if not queue.full():
        queue.put_nowait(event)


async def _stored(
    ctx: Context, project: str, after: int, through: int
) -> AsyncGenerator[Event, None]:
    """``project``'s stored events numbered ``after`` + 1 to ``through``, read ``BATCH`` at a
    time until all are read (or the store has no more)."""
    while after < through:
        batch = await asyncio.to_thread(_events_since, ctx, project, after)
        if not batch:
            return
        for event in batch:
            if event.seq > through:
                return
            yield event
            after = event.seq


def _events_since(ctx: Context, project: str, seq: int) -> list[Event]:
    """The next batch of ``project``'s events after ``seq``."""
    with ctx.store.unit_of_work() as uow:
        return list(uow.events_since(project, seq, limit=BATCH))


def propagation(ctx: Context, project: str, seq: int) -> Propagation:
    """How many of this process's open streams follow ``project`` (``connected``), and how many
    of them were sent event ``seq`` or a later one (``up_to_date``)."""
    return ctx.subscribers.count(project, seq)
