"""What every use case needs: the store, the clock, the bus that announces commits, and the
two seams a deployment plugs in (the promotion gate and the tracer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptstage.domain.events import AuditAction, EventType
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Event
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.store.base import Store, UnitOfWork

from .bus import EventBus
from .gate import Gate, OpenGate
from .subscribers import Subscribers
from .tracing import NoTracer, Tracer

Clock = Callable[[], datetime]
MAX_REASON = 1000  # characters of the free-text reason a change may carry


def parse_reason(reason: object) -> str:
    """The reason a change carries: ``""`` when none was given.

    Raises:
        InvalidInputError: ``reason`` is not text, or longer than ``MAX_REASON``.
    """
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise InvalidInputError(
            f"reason must be a string of at most {MAX_REASON} characters", field="reason"
        )
    return reason


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Context:
    """The collaborators of every use case, built once by ``create_app``.

    ``gate`` is asked by the promotion door before a label serves a new version
    (``service/promotion.py``); ``tracer`` opens spans around writes and promotions. Both
    default to no-ops. ``max_rendered_bytes`` bounds a version's expansion when it is written
    (``Settings.max_rendered_bytes``). ``subscribers`` are this process's open event streams
    (``service/subscribers.py``).
    """

    store: Store
    bus: EventBus
    clock: Clock = utc_now
    gate: Gate = field(default_factory=OpenGate)
    tracer: Tracer = field(default_factory=NoTracer)
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES
    subscribers: Subscribers = field(default_factory=Subscribers)


class Change:
    """A writing unit of work on one project: records audit rows and outbox events, and
    announces the events on the bus only after the transaction committed."""

    def __init__(self, ctx: Context, uow: UnitOfWork, project: str, actor: str) -> None:
        self.ctx = ctx
        self.uow = uow
        self.project = project
        self.actor = actor
        self.at = ctx.clock()
        self.events: list[Event] = []

    def record(
        self,
        action: AuditAction,
        target: str,
        *,
        before: Any,
        after: Any,
        reason: str = "",
        event: tuple[EventType, dict[str, Any]] | None = None,
    ) -> None:
        """Append the audit row and (optionally) the outbox event of this change."""
        self.uow.append_audit(
            self.project,
            actor=self.actor,
            action=action,
            target=target,
            before=before,
            after=after,
            reason=reason,
            at=self.at,
        )
        if event is not None:
            type_, data = event
            self.events.append(self.uow.append_event(self.project, type_, data, self.at))


@contextmanager
def change(
    ctx: Context, project: str, actor: str, *, settings_seen: ProjectSettings | None = None
) -> Iterator[Change]:
    """Open a write transaction holding ``project``'s lock; publish its events on commit.

    ``settings_seen`` are the project settings a caller decided on (is this label protected,
    does it need an approval?); if they changed before the lock was taken, the change is
    refused rather than applied under a policy that no longer holds.
    """
    with (
        ctx.tracer.span(
            "promptstage.change", {"promptstage.project": project, "promptstage.actor": actor}
        ),
        ctx.store.unit_of_work(write=True) as uow,
    ):
        if uow.lock_project(project) is None:
            raise NotFoundError(f"project {project!r} does not exist", field="project")
        if settings_seen is not None and uow.project_settings(project) != settings_seen:
            raise ConflictError(
                f"the settings of project {project!r} (protected labels, four-eyes) changed "
                "while this request was being checked; send it again",
                field="settings",
            )
        ch = Change(ctx, uow, project, actor)
        yield ch
    for event in ch.events:
        ctx.bus.publish(event)
