"""Bring a cached ``ProjectState`` forward by applying outbox events instead of rebuilding it.

A full :func:`promptstage.service.snapshot.build_state` reads every prompt, label and pointed-at
version and costs time linear in the project (about a second at 10,000 prompts). The events in
the outbox already say what changed (docs/protocol.md, "Event types and their data"), so
:func:`apply_events` copies the cached state and applies just those changes: O(changes) plus a
few shallow dict copies. The snapshot body is kept as per-entry JSON fragments
(``snapshot_body.Fragments``) so it can be re-assembled by concatenation, and only when a full ``200`` of
``/snapshot`` asks for it.

Anything unexpected (a gap in the sequence, an event type with no known effect, too many
events, malformed data) makes :func:`apply_events` return ``None`` and the caller rebuilds: the
delta is an optimisation, never a second source of truth.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, cast

from promptstage.domain.events import (
    EventType,
    LabelDeleted,
    LabelMoved,
    PromptCreated,
    ReleaseChanged,
    VersionCreated,
)
from promptstage.domain.models import Event, Version
from promptstage.domain.names import LATEST
from promptstage.rollout.resolve import ACTIVE_STATES, ActiveRelease

from .project_state import ProjectState
from .snapshot_body import Fragments, dumps, prompt_fragment, version_fragment

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


class _Delta:
    """A copy-on-write working copy of a state: readers may still hold the original, so nothing
    reachable from it is mutated (inner per-prompt label dicts are copied before their first
    change)."""

    def __init__(self, state: ProjectState) -> None:
        self.types = dict(state.types)
        self.labels = dict(state.labels)
        self.prompt_labels = dict(state.prompt_labels)
        self.versions = dict(state.versions)
        self.releases = dict(state.releases)
        self.frag = Fragments(
            dict(state.fragments.prompts),
            dict(state.fragments.versions),
            dict(state.fragments.releases),
        )
        self._copied: set[str] = set()
        self._touched: set[str] = set()
        self._maybe_unpointed: set[tuple[str, int]] = set()

    def _labels_of(self, prompt: str) -> dict[str, int]:
        if prompt not in self._copied:
            self.prompt_labels[prompt] = dict(self.prompt_labels[prompt])
            self._copied.add(prompt)
        self._touched.add(prompt)
        return self.prompt_labels[prompt]

    def _add_version(self, wire: dict[str, Any]) -> None:
        v = version_from_json(wire)
        key = (v.prompt, v.number)
        if key not in self.versions:
            self.versions[key] = v
            self.frag.versions[key] = version_fragment(v.prompt, v.number, wire)

    def _set_label(self, prompt: str, label: str, number: int | None) -> None:
        pl = self._labels_of(prompt)
        previous = pl.pop(label, None)
        if number is None:
            self.labels.pop((prompt, label), None)
        else:
            pl[label] = number
            self.labels[(prompt, label)] = number
        if previous is not None and previous != number:
            self._maybe_unpointed.add((prompt, previous))

    def apply(self, event: Event) -> bool:
        """Apply one event; ``False`` when its type has no known effect."""
        match event.type:
            case EventType.PROMPT_CREATED:
                created = cast(PromptCreated, event.data)
                name = created["prompt"]
                self.types[name] = created["type"]
                self.prompt_labels[name] = {}
                self._copied.add(name)
                self._touched.add(name)
            case EventType.VERSION_CREATED:
                written = cast(VersionCreated, event.data)
                prompt, wire = written["prompt"], written["version"]
                if prompt not in self.types:
                    return False
                self._add_version(wire)
                self._set_label(prompt, LATEST, int(wire["version"]))
            case EventType.LABEL_MOVED:
                moved = cast(LabelMoved, event.data)
                prompt = moved["prompt"]
                if prompt not in self.types:
                    return False
                self._add_version(moved["version_data"])
                self._set_label(prompt, moved["label"], int(moved["version"]))
            case EventType.LABEL_DELETED:
                deleted = cast(LabelDeleted, event.data)
                if deleted["prompt"] not in self.types:
                    return False
                self._set_label(deleted["prompt"], deleted["label"], None)
            case EventType.RELEASE_CHANGED:
                self._release(cast(ReleaseChanged, event.data)["release"])
            case kind if kind in IGNORED_EVENTS:
                pass
            case _:
                return False
        return True

    def _release(self, wire: dict[str, Any]) -> None:
        key = (wire["prompt"], wire["label"])
        current = self.releases.get(key)
        if wire["state"] in ACTIVE_STATES:
            for version in wire["versions"].values():
                self._add_version(version)
            self.releases[key] = ActiveRelease.from_dict(wire)
            self.frag.releases[key] = dumps(wire)
        elif current is not None and current.id == wire["id"]:
            # Only the release that was active leaves; an event about another (already ended)
            # release of the same label must not remove the one that is running.
            del self.releases[key]
            del self.frag.releases[key]
        else:
            return
        if current is not None:
            self._maybe_unpointed.update(
                {(key[0], current.baseline_version), (key[0], current.candidate_version)}
            )

    def finish(self) -> set[tuple[str, int]]:
        """Drop versions nothing points at any more, refresh touched prompt fragments; return
        the dropped keys (so the caller can drop their compiled templates)."""
        pointed_by_release: set[tuple[str, int]] = set()
        for (prompt, _), r in self.releases.items():
            pointed_by_release.add((prompt, r.baseline_version))
            pointed_by_release.add((prompt, r.candidate_version))
        dropped: set[tuple[str, int]] = set()
        for key in self._maybe_unpointed:
            prompt, number = key
            if number in self.prompt_labels[prompt].values() or key in pointed_by_release:
                continue
            if self.versions.pop(key, None) is not None:
                self.frag.versions.pop(key, None)
                dropped.add(key)
        for name in self._touched:
            self.frag.prompts[name] = prompt_fragment(
                name, self.types[name], self.prompt_labels[name]
            )
        return dropped


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
    """
    if not events or len(events) > MAX_DELTA_EVENTS:
        return None
    delta = _Delta(state)
    expected = state.seq + 1
    try:
        for event in events:
            if event.seq != expected or not delta.apply(event):
                return None
            expected += 1
        dropped = delta.finish()
    except (KeyError, TypeError, ValueError, AttributeError):
        # Malformed or unexpected event data: the rebuild is always correct.
        return None
    seq = events[-1].seq
    return dataclasses.replace(
        state,
        seq=seq,
        etag=f'"{seq}"',
        types=delta.types,
        labels=delta.labels,
        versions=delta.versions,
        releases=delta.releases,
        checked_at=time.monotonic(),
        prompt_labels=delta.prompt_labels,
        fragments=delta.frag,
        compiled=_kept(state.compiled, dropped),
    )


def _kept(
    compiled: dict[tuple[str, int], Any], dropped: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Any]:
    """The compiled templates still useful: versions are immutable, so only dropped ones go."""
    out = dict(compiled)
    for key in dropped:
        out.pop(key, None)
    return out
