"""Apply one ``/events`` delta to a :class:`~promptstage.sdk.state.State` (no I/O).

Event types and their effect are listed in ``docs/protocol.md``; their names and payloads are
:class:`~promptstage.domain.events.EventType` and its ``TypedDict`` s. Each one yields a new state
(the old one is never changed) or raises :class:`~promptstage.errors.IntegrityError` for a
malformed or tampered payload, which the caller answers by refetching the whole snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from promptstage.domain.events import EventType
from promptstage.errors import IntegrityError, InvalidInputError
from promptstage.rollout.resolve import ACTIVE_STATES, ActiveRelease

from .state import (
    State,
    advance,
    drop_prompt,
    replace_prompt,
    verified_of,
    version_data,
    with_latest,
)

__all__ = ["apply_event"]


def _field(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], event: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise IntegrityError(
            f"rejected event {event}: field {key!r} is missing or malformed", field=key
        )
    return value


def apply_event(state: State, event: str, data: Any, seq: int) -> tuple[State | None, bool]:
    """Apply event number ``seq`` of type ``event``.

    Args:
        state: The state held now (at ``seq - 1``).
        event: The SSE ``event:`` type, e.g. ``label.moved``.
        data: The decoded ``data:`` JSON.
        seq: The event's ``id:``.

    Returns:
        ``(new_state, refetch)``. ``new_state`` is ``None`` when the event cannot be applied as
        a delta (a release of a prompt not held): the caller then refetches the snapshot.
        ``refetch`` is true when the delta was applied but the caller should also refetch to
        reconcile (a label with an active release moved).

    Raises:
        IntegrityError: The payload is malformed or a version's digest does not match.
    """
    handler = _HANDLERS.get(event)
    if handler is None:  # unknown types are ignored; their id still advances the position
        return advance(state, seq), False
    if not isinstance(data, Mapping):
        raise IntegrityError(f"rejected event {event}: data must be a JSON object", field="data")
    return handler(state, data, seq, event)


def _prompt_created(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State, bool]:
    """Add a prompt with no labels (the payload is a ``PromptCreated``)."""
    name = _field(data, "prompt", str, event)
    type_ = _field(data, "type", str, event)
    if name in state.prompts:
        return advance(state, seq), False
    if type_ not in ("text", "chat"):
        raise IntegrityError(
            f"rejected event {event}: type {type_!r} is not text or chat", field="type"
        )
    return replace_prompt(state, name, {"type": type_, "labels": {}}, {}, seq), False


def _prompt_archived(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State, bool]:
    """Drop an archived prompt (a ``PromptArchived``): ``get`` no longer finds it."""
    name = _field(data, "prompt", str, event)
    if name not in state.prompts:
        return advance(state, seq), False
    return drop_prompt(state, name, seq), False


def _prompt_unarchived(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State | None, bool]:
    """An unarchived prompt is back: refetch the snapshot for its versions and labels."""
    _field(data, "prompt", str, event)
    return None, True


def _version_created(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State, bool]:
    """Add a version and point ``latest`` at it (a ``VersionCreated``)."""
    name = _field(data, "prompt", str, event)
    raw = _field(data, "version", Mapping, event)
    number = _field(raw, "version", int, event)
    vd = version_data(f"{name}@{number}", raw, verified_of(state, name), state.max_rendered_bytes)
    old = state.prompts.get(name)
    type_ = old["type"] if old is not None else raw["type"]
    labels = with_latest(old["labels"] if old is not None else {}, number)
    if labels == (old["labels"] if old is not None else None):
        return advance(state, seq), False
    return replace_prompt(state, name, {"type": type_, "labels": labels}, {vd.key: vd}, seq), False


def _label_moved(state: State, data: Mapping[str, Any], seq: int, event: str) -> tuple[State, bool]:
    """Point a label at a version (a ``LabelMoved``)."""
    name = _field(data, "prompt", str, event)
    label = _field(data, "label", str, event)
    number = _field(data, "version", int, event)
    key = f"{name}@{number}"
    raw = data.get("version_data")
    if raw is None and key in state.versions:  # held (verified or not): no new bytes
        new_versions = {}
    else:
        vd = version_data(
            key,
            _field(data, "version_data", Mapping, event),
            verified_of(state, name),
            state.max_rendered_bytes,
        )
        new_versions = {key: vd}
    old = state.prompts.get(name)
    type_ = old["type"] if old is not None else state_type(new_versions, key)
    labels = dict(old["labels"]) if old is not None else {}
    labels[label] = number
    # A label under a release only moves when the release ends (promote or rollback): drop
    # it at once, so a rollback takes effect now, and refetch to learn the release's state.
    had_release = state.has_release(name, label)
    new = replace_prompt(
        state,
        name,
        {"type": type_, "labels": labels},
        new_versions,
        seq,
        drop_release_on=label if had_release else None,
    )
    return new, had_release


def state_type(new_versions: Mapping[str, Any], key: str) -> str:
    """The prompt type carried by a version (for an event about a prompt not held yet)."""
    vd = new_versions.get(key)
    return str(vd.raw["type"]) if vd is not None else "text"


def _label_deleted(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State, bool]:
    """Remove a label (a ``LabelDeleted``)."""
    name = _field(data, "prompt", str, event)
    label = _field(data, "label", str, event)
    old = state.prompts.get(name)
    if old is None or label not in old["labels"]:
        return advance(state, seq), False
    labels = {k: v for k, v in old["labels"].items() if k != label}
    had_release = state.has_release(name, label)
    new = replace_prompt(
        state,
        name,
        {"type": old["type"], "labels": labels},
        {},
        seq,
        drop_release_on=label if had_release else None,
    )
    return new, had_release


def _release_changed(
    state: State, data: Mapping[str, Any], seq: int, event: str
) -> tuple[State | None, bool]:
    """Set or clear the active release of a label (a ``ReleaseChanged``)."""
    raw = _field(data, "release", Mapping, event)
    name = _field(raw, "prompt", str, event)
    label = _field(raw, "label", str, event)
    status = _field(raw, "state", str, event)
    old = state.prompts.get(name)
    if old is None:
        return None, True
    if status not in ACTIVE_STATES:  # completed, rolled back, aborted: the label alone again
        return replace_prompt(state, name, old, {}, seq, drop_release_on=label), False
    carried = raw.get("versions") or {}
    if not isinstance(carried, Mapping):
        raise IntegrityError(
            f"rejected event {event}: release.versions must be an object", field="versions"
        )
    new_versions = {
        key: version_data(key, v, verified_of(state, name), state.max_rendered_bytes)
        for key, v in carried.items()
    }
    release = {k: v for k, v in raw.items() if k != "versions"}
    try:
        ActiveRelease.from_dict(release, path="release")
    except InvalidInputError as exc:
        raise IntegrityError(f"rejected event {event}: {exc.message}", field="release") from None
    return replace_prompt(state, name, old, new_versions, seq, set_release=release), False


Handler = Callable[[State, Mapping[str, Any], int, str], "tuple[State | None, bool]"]

# Keyed by the StrEnum members, looked up with the plain ``event:`` string (they hash alike).
_HANDLERS: dict[str, Handler] = {
    EventType.PROMPT_CREATED: _prompt_created,
    EventType.PROMPT_ARCHIVED: _prompt_archived,
    EventType.PROMPT_UNARCHIVED: _prompt_unarchived,
    EventType.VERSION_CREATED: _version_created,
    EventType.LABEL_MOVED: _label_moved,
    EventType.LABEL_DELETED: _label_deleted,
    EventType.RELEASE_CHANGED: _release_changed,
}
