"""The resolvable state of a project, cached in memory and brought forward when its sequence moves.

``GET /snapshot`` serves the cached body with ``ETag: "<seq>"``; ``resolve`` answers from the
same cache, so the hot path never touches the database. The cache is invalidated by the event
bus (this process and, through LISTEN/NOTIFY, other replicas) and, as a backstop, re-checks
the project's sequence number at most every ``state_check_seconds``. When the sequence has moved
the cached state is brought forward by applying the new events (``snapshot_delta``), falling back
to a full :func:`build_state` on anything unexpected.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from promptstage.domain.hints import did_you_mean, label_not_found_message
from promptstage.domain.models import Version
from promptstage.domain.names import LATEST
from promptstage.domain.wire import release_runtime_json, version_json
from promptstage.errors import NotFoundError
from promptstage.rollout.resolve import ActiveRelease, Resolution, resolve

from .context import Context
from .project_state import ProjectState
from .prompts import require_project
from .snapshot_body import SNAPSHOT_FORMAT, Fragments, dumps, prompt_fragment, version_fragment
from .snapshot_delta import MAX_DELTA_EVENTS, apply_events

# ``ProjectState`` and ``SNAPSHOT_FORMAT`` live in their own modules (so the delta need not
# import this one) and are re-exported for the callers that import them from here.
__all__ = [
    "SNAPSHOT_FORMAT",
    "ProjectState",
    "Resolved",
    "StateCache",
    "build_state",
    "resolve_label",
]


def build_state(ctx: Context, project: str) -> ProjectState:
    """Read the project's prompts, labels and pointed-at versions in one transaction."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.snapshot_rows(project)
    frag = Fragments()
    types: dict[str, str] = {}
    prompt_labels: dict[str, dict[str, int]] = {}
    labels: dict[tuple[str, str], int] = {}
    for p in rows.prompts:
        pl = dict(rows.labels.get(p.name, {}))
        if p.latest_version:
            pl[LATEST] = p.latest_version
        types[p.name] = p.type
        prompt_labels[p.name] = pl
        frag.prompts[p.name] = prompt_fragment(p.name, p.type, pl)
        for label, number in pl.items():
            labels[(p.name, label)] = number
    versions: dict[tuple[str, int], Version] = {}
    version_bodies: dict[str, dict[str, Any]] = {}
    for v in rows.versions:
        wire = version_bodies[f"{v.prompt}@{v.number}"] = version_json(v)
        versions[(v.prompt, v.number)] = v
        frag.versions[(v.prompt, v.number)] = version_fragment(v.prompt, v.number, wire)
    releases: dict[tuple[str, str], ActiveRelease] = {}
    for r in rows.releases:
        keys = (f"{r.prompt}@{r.baseline_version}", f"{r.prompt}@{r.candidate_version}")
        wire = release_runtime_json(r, {k: version_bodies[k] for k in keys if k in version_bodies})
        releases[(r.prompt, r.label)] = ActiveRelease.from_dict(wire)
        frag.releases[(r.prompt, r.label)] = dumps(wire)
    return ProjectState(
        seq=rows.seq,
        etag=f'"{rows.seq}"',
        project=project,
        types=types,
        labels=labels,
        versions=versions,
        releases=releases,
        checked_at=time.monotonic(),
        prompt_labels=prompt_labels,
        fragments=frag,
    )


class StateCache:
    def __init__(self, ctx: Context, check_seconds: float) -> None:
        self._ctx = ctx
        self._check = check_seconds
        self._states: dict[str, ProjectState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, project: str) -> ProjectState | None:
        """The cached state when it is known current without any I/O, else ``None``."""
        state = self._states.get(project)
        if (
            state is not None
            and self._ctx.bus.latest(project) <= state.seq
            and time.monotonic() - state.checked_at < self._check
        ):
            return state
        return None

    def get(self, project: str) -> ProjectState:
        """The current state, re-checking the sequence or rebuilding as needed (may do I/O)."""
        state = self._states.get(project)
        if state is not None and self._ctx.bus.latest(project) <= state.seq:
            if time.monotonic() - state.checked_at < self._check:
                return state
            with self._ctx.store.unit_of_work() as uow:
                current = uow.last_event_seq(project)
            if current == state.seq:
                state.checked_at = time.monotonic()
                return state
        with self._guard:
            lock = self._locks.setdefault(project, threading.Lock())
        with lock:
            latest = self._states.get(project)
            if (
                latest is not None
                and latest is not state
                and self._ctx.bus.latest(project) <= latest.seq
            ):
                return latest
            fresh = self._advance(project, latest) if latest is not None else None
            if fresh is None:
                fresh = build_state(self._ctx, project)
            self._states[project] = fresh
            return fresh

    def _advance(self, project: str, state: ProjectState) -> ProjectState | None:
        """``state`` brought forward by the events since it (O(changes)), or ``None`` to rebuild."""
        with self._ctx.store.unit_of_work() as uow:
            # One more than the cap, so "too many" is told apart from "exactly the cap".
            events = uow.events_since(project, state.seq, limit=MAX_DELTA_EVENTS + 1)
        return apply_events(state, events)


@dataclass(frozen=True, slots=True)
class Resolved:
    version: Version
    label: str
    resolution: Resolution


def resolve_label(
    state: ProjectState, prompt: str, label: str, unit: str | None, context: dict[str, Any]
) -> Resolved:
    if prompt not in state.types:
        raise NotFoundError(
            f"prompt {prompt!r} does not exist{did_you_mean(prompt, state.types)}",
            field="prompt",
        )
    number = state.labels.get((prompt, label))
    if number is None:
        held = state.prompt_labels.get(prompt, {})
        raise NotFoundError(label_not_found_message(prompt, label, held, False), field="label")
    resolution = resolve(number, state.releases.get((prompt, label)), unit, context)
    return Resolved(state.versions[(prompt, resolution.version)], label, resolution)
