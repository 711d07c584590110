"""Bring a cached ``ProjectState`` forward by applying outbox events instead of rebuilding it.

A full :func:`promptstage.service.snapshot.build_state` reads every prompt, label and pointed-at
version and costs time linear in the project. The events in the outbox already say what changed
(docs/protocol.md, "Event types and their data"), so :func:`apply_events` replaces just the
prompts they touch: each is copied, changed, and re-encoded into its snapshot fragments, and the
project map (a ``ShardMap``) is copied one shard per changed prompt. A label move costs
O(that prompt), whatever the size of the project; the full ``/snapshot`` body is joined from the
fragments only when a full ``200`` asks for it.

Anything unexpected (a gap in the sequence, an event type with no known effect, too many
events, malformed data) makes :func:`apply_events` return ``None`` and the caller rebuilds: the
delta is an optimisation, never a second source of truth.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from promptstage.domain.events import (
    EventType,
    LabelDeleted,
    LabelMoved,
    PromptArchived,
    PromptCreated,
    ReleaseChanged,
    VersionCreated,
)
from promptstage.domain.models import Event, Version
from promptstage.domain.names import LATEST
from promptstage.rollout.resolve import ACTIVE_STATES, ActiveRelease

from .project_state import ProjectState, PromptState, make_prompt_state
from .shard_map import ShardMapEvolver
from .snapshot_body import dumps

__all__ = ["MAX_DELTA_EVENTS", "apply_events", "version_from_json"]

MAX_DELTA_EVENTS: Final = 500
"""Beyond this many pending events a full rebuild is as cheap and simpler to reason about."""

IGNORED_EVENTS: Final = frozenset(
    {EventType.KEY_CREATED, EventType.KEY_REVOKED, EventType.DEPS_DRIFT}
)
"""Event types with no effect on a snapshot (docs/protocol.md); they only advance the sequence."""


def version_from_json(d: dict[str, Any]) -> Version:
    """A ``Version`` from its wire JSON (``version_json``), as carried by events."""
    return Version(
        prompt=d["prompt"],
        number=int(d["version"]),
        digest=d["digest"],
        type=d["type"],
        template=d["template"],
        variables=d["variables"],
        config=d["config"],
        author=d["author"],
        message=d["message"],
        parent=d["parent"],
        created_at=datetime.fromisoformat(d["created_at"].replace("Z", "+00:00")),
        includes=d["includes"],
    )


@dataclass(slots=True)
class _Working:
    """A mutable copy of one prompt's state while events are applied."""

    type: str
    labels: dict[str, int]
    versions: dict[int, Version]
    releases: dict[str, ActiveRelease]
    release_json: dict[str, str]
    compiled: dict[int, Any]


class _Delta:
    """The changed prompts of a state: readers may still hold the original, so nothing
    reachable from it is mutated. A prompt is copied on its first change (O(that prompt));
    the project map is a ``ShardMap``, so replacing a prompt copies one shard."""

    def __init__(self, state: ProjectState) -> None:
        self._base = state.prompts
        self.work: dict[str, _Working | None] = {}  # ``None``: the prompt left (archived)
        self.names_changed = False

    def prompt(self, name: str) -> _Working | None:
        """The working copy of ``name``, or ``None`` when the state has no such prompt."""
        if name in self.work:
            return self.work[name]
        p = self._base.get(name)
        if p is None:
            return None
        w = self.work[name] = _Working(
            p.type,
            dict(p.labels),
            dict(p.versions),
            dict(p.releases),
            dict(p.release_json),
            p.compiled,
        )
        return w

    def apply(self, event: Event) -> bool:
        """Apply one event; ``False`` when its type has no known effect or its prompt is
        unknown (the caller rebuilds)."""
        match event.type:
            case EventType.PROMPT_CREATED:
                created = cast(PromptCreated, event.data)
                name = created["prompt"]
                self.work[name] = _Working(created["type"], {}, {}, {}, {}, {})
                self.names_changed = True
            case EventType.PROMPT_ARCHIVED:
                # Archiving needs the prompt's labels and releases gone first (but ``latest``).
                name = cast(PromptArchived, event.data)["prompt"]
                if self.prompt(name) is None:
                    return False
                self.work[name] = None
                self.names_changed = True
            case EventType.VERSION_CREATED:
                written = cast(VersionCreated, event.data)
                w = self.prompt(written["prompt"])
                if w is None:
                    return False
                _add_version(w, written["prompt"], written["version"])
                w.labels[LATEST] = int(written["version"]["version"])
            case EventType.LABEL_MOVED:
                moved = cast(LabelMoved, event.data)
                w = self.prompt(moved["prompt"])
                if w is None:
                    return False
                _add_version(w, moved["prompt"], moved["version_data"])
                w.labels[moved["label"]] = int(moved["version"])
            case EventType.LABEL_DELETED:
                deleted = cast(LabelDeleted, event.data)
                w = self.prompt(deleted["prompt"])
                if w is None:
                    return False
                w.labels.pop(deleted["label"], None)
            case EventType.RELEASE_CHANGED:
                wire = cast(ReleaseChanged, event.data)["release"]
                w = self.prompt(wire["prompt"])
                if w is None:
                    return False
                _release(w, wire)
            case kind if kind in IGNORED_EVENTS:
                pass
            case _:
                return False
        return True

    def finish(self, evolver: ShardMapEvolver[str, PromptState]) -> None:
        """Write the changed prompts into ``evolver``, each keeping only the versions a label
        or an active release points at (what ``build_state`` reads)."""
        for name, w in self.work.items():
            if w is None:
                evolver.remove(name)
                continue
            pointed = set(w.labels.values())
            for r in w.releases.values():
                pointed.update((r.baseline_version, r.candidate_version))
            versions = {n: v for n, v in w.versions.items() if n in pointed}
            evolver.set(
                name,
                make_prompt_state(
                    name, w.type, w.labels, versions, w.releases, w.release_json, w.compiled
                ),
            )


def _add_version(w: _Working, prompt: str, wire: dict[str, Any]) -> None:
    v = version_from_json(wire)
    if v.prompt != prompt:
        raise ValueError(f"version of {v.prompt!r} in an event of {prompt!r}")
    w.versions.setdefault(v.number, v)


def _release(w: _Working, wire: dict[str, Any]) -> None:
    label = wire["label"]
    current = w.releases.get(label)
    if wire["state"] in ACTIVE_STATES:
        for version in wire["versions"].values():
            _add_version(w, wire["prompt"], version)
        w.releases[label] = ActiveRelease.from_dict(wire)
        w.release_json[label] = dumps(wire)
    elif current is not None and current.id == wire["id"]:
        # Only the release that was active leaves; an event about another (already ended)
        # release of the same label must not remove the one that is running.
        del w.releases[label]
        del w.release_json[label]


def apply_events(state: ProjectState, events: Sequence[Event]) -> ProjectState | None:
    """The state after ``events``, or ``None`` when the caller must rebuild instead.

    Args:
        state: The cached state; not modified (other threads may be reading it).
        events: The project's events after ``state.seq``, oldest first, as read by
            ``UnitOfWork.events_since``.

    Returns:
        A new state equal to what ``build_state`` would read at the last event's sequence, or
        ``None`` when there are no events, more than ``MAX_DELTA_EVENTS``, a gap in the
        sequence, an event type without a known effect, or data that does not fit the state.
        It costs O(the changed prompts): unchanged prompts are shared with ``state``.
    """
    if not events or len(events) > MAX_DELTA_EVENTS:
        return None
    delta = _Delta(state)
    expected = state.seq + 1
    evolver = state.prompts.evolve()
    try:
        for event in events:
            if event.seq != expected or not delta.apply(event):
                return None
            expected += 1
        delta.finish(evolver)
    except (KeyError, TypeError, ValueError, AttributeError):
        # Malformed or unexpected event data: the rebuild is always correct.
        return None
    seq = events[-1].seq
    return ProjectState(
        seq=seq,
        etag=f'"{seq}"',
        project=state.project,
        prompts=evolver.finish(),
        checked_at=time.monotonic(),
        names=None if delta.names_changed else state.names,
    )
