"""The resolvable state of a project, cached in memory and rebuilt when its sequence moves.

``GET /snapshot`` serves the cached body with ``ETag: "<seq>"``; ``resolve`` answers from the
same cache, so the hot path never touches the database. The cache is invalidated by the event
bus (this process and, through LISTEN/NOTIFY, other replicas) and, as a backstop, re-checks
the project's sequence number at most every ``state_check_seconds``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from promptstage.domain.models import Version
from promptstage.domain.names import LATEST
from promptstage.domain.template import CompiledTemplate
from promptstage.domain.wire import release_runtime_json, version_json
from promptstage.errors import NotFoundError
from promptstage.rollout.resolve import ActiveRelease, Resolution, resolve

from .context import Context
from .prompts import require_project

SNAPSHOT_FORMAT = 1


@dataclass(slots=True)
class ProjectState:
    seq: int
    etag: str
    body: bytes
    types: dict[str, str]
    labels: dict[tuple[str, str], int]
    versions: dict[tuple[str, int], Version]
    releases: dict[tuple[str, str], ActiveRelease]
    checked_at: float
    compiled: dict[tuple[str, int], CompiledTemplate] = field(default_factory=dict)

    def template(self, prompt: str, number: int) -> CompiledTemplate:
        key = (prompt, number)
        found = self.compiled.get(key)
        if found is None:
            v = self.versions[key]
            found = self.compiled[key] = CompiledTemplate(v.type, v.template, v.variables, v.includes)
        return found


def build_state(ctx: Context, project: str) -> ProjectState:
    """Read the project's prompts, labels and pointed-at versions in one transaction."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.snapshot_rows(project)
    prompts: dict[str, Any] = {}
    labels: dict[tuple[str, str], int] = {}
    for p in rows.prompts:
        pl = dict(rows.labels.get(p.name, {}))
        if p.latest_version:
            pl[LATEST] = p.latest_version
        prompts[p.name] = {"type": p.type, "labels": pl}
        for label, number in pl.items():
            labels[(p.name, label)] = number
    versions = {(v.prompt, v.number): v for v in rows.versions}
    version_bodies = {f"{v.prompt}@{v.number}": version_json(v) for v in rows.versions}
    release_bodies: list[dict[str, Any]] = []
    releases: dict[tuple[str, str], ActiveRelease] = {}
    for r in rows.releases:
        keys = (f"{r.prompt}@{r.baseline_version}", f"{r.prompt}@{r.candidate_version}")
        wire = release_runtime_json(r, {k: version_bodies[k] for k in keys if k in version_bodies})
        release_bodies.append(wire)
        releases[(r.prompt, r.label)] = ActiveRelease.from_dict(wire)
    body = {
        "format": SNAPSHOT_FORMAT,
        "project": project,
        "seq": rows.seq,
        "prompts": prompts,
        "versions": version_bodies,
        "releases": release_bodies,
    }
    return ProjectState(
        seq=rows.seq,
        etag=f'"{rows.seq}"',
        body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        types={p.name: p.type for p in rows.prompts},
        labels=labels,
        versions=versions,
        releases=releases,
        checked_at=time.monotonic(),
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
            if latest is not None and latest is not state and self._ctx.bus.latest(project) <= latest.seq:
                return latest
            fresh = build_state(self._ctx, project)
            self._states[project] = fresh
            return fresh


@dataclass(frozen=True, slots=True)
class Resolved:
    version: Version
    label: str
    resolution: Resolution


def resolve_label(
    state: ProjectState, prompt: str, label: str, unit: str | None, context: dict[str, Any]
) -> Resolved:
    if prompt not in state.types:
        raise NotFoundError(f"prompt {prompt!r} does not exist", field="prompt")
    number = state.labels.get((prompt, label))
    if number is None:
        raise NotFoundError(f"prompt {prompt!r} has no label {label!r}", field="label")
    resolution = resolve(number, state.releases.get((prompt, label)), unit, context)
    return Resolved(state.versions[(prompt, resolution.version)], label, resolution)
