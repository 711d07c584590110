"""The names that travel: outbox event types, audit actions and stream signals, with the payloads.

Members are ``StrEnum`` s, so ``EventType.LABEL_MOVED == "label.moved"``, they hash like their
strings and serialise as them: the wire, the stored rows and the webhook bodies are spelled as
before. Values read back from the store are plain ``str`` and compare equal to the members.

Outbox events (``Change.record(..., event=outbox_event(...))``, served by ``/events``; the data
fields are in docs/protocol.md and in the payload ``TypedDict`` s below):

=================== ============================================ ==============================
type                emitted by                                   read by
=================== ============================================ ==============================
``prompt.created``  ``service/prompts.create_prompt``            snapshot delta, SDK
``version.created`` ``service/prompts.write_version``            snapshot delta, SDK
``label.moved``     ``service/promotion.promote``, ``roll_back`` snapshot delta, SDK, webhooks
``label.deleted``   ``service/labels.delete_label``              snapshot delta, SDK, webhooks
``release.changed`` ``service/release_changes.record_release``   snapshot delta, SDK, webhooks
``deps.drift``      ``service/deps_drift.record_drift`` (first    webhooks; snapshot delta and
                    call reporting a new mismatch)               SDK ignore it
``key.created``     ``service/keys.create_key``                  snapshot delta (ignores it)
``key.revoked``     ``service/keys.revoke_key``                  snapshot delta (ignores it),
                                                                 ``service/keys.Authenticator``
                                                                 (drops the cached key), the
                                                                 ``/events`` route (ends the
                                                                 revoked key's stream)
=================== ============================================ ==============================

Webhook-only names (``domain/webhooks.subscriptions_of`` derives them; never in the outbox):
``label.rolled_back`` (a ``label.moved`` of kind ``rollback``) and ``release.rolled_back`` (a
``release.changed`` whose release is ``rolled_back``).

Stream signals (:class:`StreamSignal`) are SSE frames of the ``/events`` route that are not
outbox events; ``hello`` and ``reset`` carry ``{"seq": <current>}``: ``hello`` opens every stream, ``reset`` says
the client's position is ahead of the server's or older than the events it keeps, so the
client must refetch ``/snapshot`` (docs/protocol.md); the SDK (``sdk/core.py``) reads both.
``withheld`` (``id:`` set, data ``{}``) stands for an event the stream's key may not see (the
``key.*`` events on non-admin streams, ``service/event_stream.visible``); the SDK ignores it
as an unknown type and its position moves on.

Audit actions (:class:`AuditAction`) name the audit rows ``Change.record`` writes: one per kind
of change, read by ``service/evidence.py`` (``version.create``) and by change requests
(``label.move``, ``release.start``, which are also the change request kinds).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, TypedDict, cast, overload

__all__ = [
    "AuditAction",
    "EventType",
    "KeyChanged",
    "LabelDeleted",
    "LabelMoved",
    "PromptCreated",
    "ReleaseChanged",
    "StreamSignal",
    "VersionCreated",
    "outbox_event",
]


class EventType(StrEnum):
    """Outbox event types, plus the webhook-only rollback names (see the module docstring)."""

    PROMPT_CREATED = "prompt.created"
    PROMPT_ARCHIVED = "prompt.archived"
    PROMPT_UNARCHIVED = "prompt.unarchived"
    VERSION_CREATED = "version.created"
    LABEL_MOVED = "label.moved"
    LABEL_DELETED = "label.deleted"
    RELEASE_CHANGED = "release.changed"
    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    DEPS_DRIFT = "deps.drift"
    # Webhook-only: derived from the events above when a webhook subscribes to rollbacks.
    LABEL_ROLLED_BACK = "label.rolled_back"
    RELEASE_ROLLED_BACK = "release.rolled_back"


class StreamSignal(StrEnum):
    """SSE frames of ``/events`` that carry no outbox event: ``hello`` and ``reset`` have no
    ``id:``; ``withheld`` has the ``id:`` of an event the stream's role may not see, and ``{}``."""

    HELLO = "hello"
    RESET = "reset"
    WITHHELD = "withheld"


class AuditAction(StrEnum):
    """The ``action`` of an audit row; ``release.<action>`` mirrors the release actions."""

    PROJECT_CREATE = "project.create"
    PROJECT_SETTINGS = "project.settings"
    PROMPT_CREATE = "prompt.create"
    PROMPT_UPDATE = "prompt.update"
    PROMPT_ARCHIVE = "prompt.archive"
    PROMPT_UNARCHIVE = "prompt.unarchive"
    VERSION_CREATE = "version.create"
    LABEL_MOVE = "label.move"
    LABEL_ROLLBACK = "label.rollback"
    LABEL_DELETE = "label.delete"
    RELEASE_START = "release.start"
    RELEASE_ADVANCE = "release.advance"
    RELEASE_PAUSE = "release.pause"
    RELEASE_RESUME = "release.resume"
    RELEASE_PROMOTE = "release.promote"
    RELEASE_ROLLBACK = "release.rollback"
    RELEASE_ABORT = "release.abort"
    KEY_CREATE = "key.create"
    KEY_REVOKE = "key.revoke"
    KEY_ROTATE = "key.rotate"
    PRINCIPAL_CREATE = "principal.create"
    USER_CREATE = "user.create"
    USER_ROLE = "user.role"
    USER_REVOKE = "user.revoke"
    USER_PASSWORD = "user.password"
    WEBHOOK_CREATE = "webhook.create"
    WEBHOOK_DELETE = "webhook.delete"
    CHANGE_REQUEST_OPEN = "change_request.open"
    CHANGE_REQUEST_APPROVE = "change_request.approve"
    CHANGE_REQUEST_REJECT = "change_request.reject"
    EVAL_SUITE_PUSH = "eval.suite_push"
    EVAL_RUN_START = "eval.run_start"
    EVAL_RUN_CANCEL = "eval.run_cancel"
    EVAL_RUN_RESUME = "eval.run_resume"
    EVAL_REPLAY_START = "eval.replay_start"
    GATE_OVERRIDE = "gate.override"
    DEP_REGISTER = "dep.register"
    DEP_RETIRE = "dep.retire"


class PromptCreated(TypedDict):
    """``prompt.created``: a prompt with no versions and no labels yet."""

    prompt: str
    type: str  # text | chat


class PromptArchived(TypedDict):
    """``prompt.archived`` / ``prompt.unarchived``: the prompt left (or came back to) the
    snapshot; SDKs drop an archived prompt and refetch on unarchive."""

    prompt: str


class VersionCreated(TypedDict):
    """``version.created``: a new version; ``latest`` now points at it."""

    prompt: str
    version: dict[str, Any]  # the version's wire JSON (domain/wire.version_json)


class LabelMoved(TypedDict):
    """``label.moved``: ``label`` now serves ``version`` (``previous`` is ``None`` if new)."""

    prompt: str
    label: str
    version: int
    previous: int | None
    kind: str  # move | rollback
    version_data: dict[str, Any]  # the target version's wire JSON


class LabelDeleted(TypedDict):
    """``label.deleted``: ``label`` no longer exists (it pointed at ``previous``)."""

    prompt: str
    label: str
    previous: int | None


class ReleaseChanged(TypedDict):
    """``release.changed``: a release started, moved a step, paused, resumed or ended."""

    release: dict[str, Any]  # runtime JSON with ``versions`` (domain/wire.release_runtime_json)
    action: str  # start | advance | pause | resume | promote | rollback | abort
    actor: str
    reason: str


class KeyChanged(TypedDict):
    """``key.created`` and ``key.revoked``: an API key by its public prefix."""

    prefix: str
    role: str


@overload
def outbox_event(
    type_: Literal[EventType.PROMPT_CREATED], data: PromptCreated
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.PROMPT_ARCHIVED, EventType.PROMPT_UNARCHIVED], data: PromptArchived
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.VERSION_CREATED], data: VersionCreated
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.LABEL_MOVED], data: LabelMoved
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.LABEL_DELETED], data: LabelDeleted
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.RELEASE_CHANGED], data: ReleaseChanged
) -> tuple[EventType, dict[str, Any]]: ...
@overload
def outbox_event(
    type_: Literal[EventType.KEY_CREATED, EventType.KEY_REVOKED], data: KeyChanged
) -> tuple[EventType, dict[str, Any]]: ...
def outbox_event(type_: EventType, data: Any) -> tuple[EventType, dict[str, Any]]:
    """The ``event=`` argument of ``Change.record``: a type and its payload, checked together.

    The overloads let the type checker pair each event type with its payload ``TypedDict``; at
    run time this returns its arguments as they are (no copy, no validation).

    Args:
        type_: The outbox event type.
        data: Its payload, a plain dict of the matching ``TypedDict``.

    Returns:
        ``(type_, data)``, as ``Change.record`` and ``UnitOfWork.append_event`` take them.
    """
    return type_, cast("dict[str, Any]", data)
