"""The resolvable state of a project, cached in memory and brought forward when its sequence moves.

``GET /snapshot`` serves the cached body with ``ETag: "<seq>"``; ``resolve`` answers from the
same cache, so the hot path never touches the database. The cache is invalidated by the event
bus (this process and, through LISTEN/NOTIFY, other replicas) and, as a backstop, re-checks
the project's sequence number at most every ``state_check_seconds``. When the sequence has moved
the cached state is brought forward by applying the new events (``snapshot_delta``), falling back
to a full :func:`build_state` on anything unexpected.
"""

from __future__ import annotations

import bisect
import gc
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from promptstage.domain.hints import did_you_mean, label_not_found_message
from promptstage.domain.models import Version
from promptstage.domain.names import LATEST
from promptstage.domain.wire import release_runtime_json, version_json
from promptstage.errors import NotFoundError, ServiceUnavailableError
from promptstage.rollout.resolve import ActiveRelease, Resolution, resolve

from .context import Context
from .project_state import ProjectState, PromptState, make_prompt_state
from .prompts import require_project
from .shard_map import ShardMap
from .snapshot_body import SNAPSHOT_FORMAT, EncodedValues, dumps
from .snapshot_delta import MAX_DELTA_EVENTS, apply_events

# ``ProjectState`` and ``SNAPSHOT_FORMAT`` live in their own modules (so the delta need not
# import this one) and are re-exported for the callers that import them from here.
__all__ = [
    "SNAPSHOT_FORMAT",
    "ProjectState",
    "Resolved",
    "Served",
    "StateCache",
    "build_state",
    "resolve_answer",
    "resolve_label",
]

log = logging.getLogger("promptstage")

FREEZE_AT: Final = 10_000
"""Prompts from which a state the cache keeps is moved out of the cyclic collector's sight."""


def settle_heap() -> None:
    """Move what the process holds now out of the cyclic garbage collector's full passes.

    A full collection walks every tracked object, on whichever thread allocates when it is
    due, with the GIL held: in a server process ~0.2 s for its imports and app alone, ~0.6 s
    more with a 100,000-prompt state, the event loop and every request waiting. ``gc.freeze``
    takes what is alive now out of those passes. What an earlier freeze held is first given
    back and collected, so no garbage stays frozen for good. Called by ``promptstage serve``
    once its app is built, and by :class:`StateCache` after a cold build of a large state.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def settle(state: ProjectState) -> None:
    """:func:`settle_heap` after the cold build of a state of :data:`FREEZE_AT` prompts or more
    (a state holds no reference cycles: it is freed by reference counting, frozen or not)."""
    if len(state.prompts) >= FREEZE_AT:
        settle_heap()


def build_state(ctx: Context, project: str) -> ProjectState:
    """Read the project's prompts, labels and pointed-at versions in one transaction."""
    # A build allocates millions of objects and no reference cycles: without the cyclic
    # collector's passes over the growing heap it is about a fifth faster at 100,000 prompts.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build_state(ctx, project)
    finally:
        if paused:
            gc.enable()


def _build_state(ctx: Context, project: str) -> ProjectState:
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.snapshot_rows(project)
    by_prompt: dict[str, dict[int, Version]] = {}
    for v in rows.versions:
        by_prompt.setdefault(v.prompt, {})[v.number] = v
    active: dict[str, dict[str, ActiveRelease]] = {}
    active_json: dict[str, dict[str, str]] = {}
    for r in rows.releases:
        held = by_prompt.get(r.prompt, {})
        wire = release_runtime_json(
            r,
            {
                f"{r.prompt}@{n}": version_json(held[n])
                for n in (r.baseline_version, r.candidate_version)
                if n in held
            },
        )
        active.setdefault(r.prompt, {})[r.label] = ActiveRelease.from_dict(wire)
        active_json.setdefault(r.prompt, {})[r.label] = dumps(wire)
    shared = EncodedValues()
    states: list[tuple[str, PromptState]] = []
    for p in rows.prompts:
        labels = dict(rows.labels.get(p.name, {}))
        if p.latest_version:
            labels[LATEST] = p.latest_version
        states.append(
            (
                p.name,
                make_prompt_state(
                    p.name,
                    p.type,
                    labels,
                    by_prompt.get(p.name, {}),
                    active.get(p.name, {}),
                    active_json.get(p.name, {}),
                    shared=shared,
                ),
            )
        )
    return ProjectState(
        seq=rows.seq,
        etag=f'"{rows.seq}"',
        project=project,
        prompts=ShardMap(states),
        checked_at=time.monotonic(),
        # The store reads prompts by name, but sort here: the body's order must not depend on
        # the database's collation.
        names=tuple(sorted(name for name, _ in states)),
    )


@dataclass(frozen=True, slots=True)
class Served:
    """What a runtime read answers from: the state and, when the store could not be reached to
    confirm it, how long ago it was last confirmed current.

    Attributes:
        state: The project's state.
        stale_seconds: ``None`` when the state is known current; else the seconds since it was
            last confirmed against the store (the store is unreachable meanwhile).
        reason: Why the store could not be reached (``None`` when current).
    """

    state: ProjectState
    stale_seconds: float | None = None
    reason: str | None = None


class StateCache:
    """Each project's state, kept current by the event bus and a periodic sequence check.

    When the store cannot be reached, :meth:`read` keeps answering from the state held (the
    runtime surface stays up through a database outage); a project never loaded answers 503.
    """

    def __init__(self, ctx: Context, check_seconds: float) -> None:
        self._ctx = ctx
        self._check = check_seconds
        self._states: dict[str, ProjectState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.unreachable: str | None = None  # the last store error of a read, until one succeeds
        self._failed_at: dict[str, float] = {}  # project -> when its store reads began failing
        self._checking: set[str] = set()  # projects being re-checked in the background
        self._threads: list[threading.Thread] = []
        self._closed = False

    def read(self, project: str) -> Served:
        """The current state, or the state held when the store cannot be reached (may do I/O).

        Raises:
            ServiceUnavailableError: the store cannot be reached and nothing is held for
                ``project`` (a server started during the outage).
            NotFoundError: the project does not exist.
        """
        held = self._states.get(project)
        if self._check > 0 and held is not None and self._ctx.bus.latest(project) <= held.seq:
            # Nothing is known to have changed; only the periodic re-check is due. Answer from
            # memory and re-check in the background, so a slow or unreachable store never
            # holds up a runtime read (a change published on the bus still waits for it).
            # ``check_seconds == 0`` asks for strict reads: every read confirms in the foreground.
            self._recheck_in_background(project)
            if project in self._failed_at:
                return Served(held, max(0.0, time.monotonic() - held.checked_at), self.unreachable)
            return Served(held)
        try:
            state = self.get(project)
        except ServiceUnavailableError as exc:
            self.unreachable = exc.message
            self._failed_at.setdefault(project, time.monotonic())
            held = self._states.get(project)
            if held is None:
                raise ServiceUnavailableError(
                    f"the store cannot be reached and this server holds no state of project "
                    f"{project!r} yet (it started during the outage): {exc.message}"
                ) from exc
            return Served(held, max(0.0, time.monotonic() - held.checked_at), exc.message)
        self.unreachable = None
        self._failed_at.pop(project, None)
        return Served(state)

    def _recheck_in_background(self, project: str) -> None:
        with self._guard:
            if self._closed or project in self._checking:
                return
            self._checking.add(project)
            thread = threading.Thread(
                target=self._recheck, args=(project,), name="state-recheck", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Start no more background re-checks and wait for those running (before the store
        closes under them)."""
        with self._guard:
            self._closed = True
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _recheck(self, project: str) -> None:
        try:
            self.get(project)
        except ServiceUnavailableError as exc:
            self.unreachable = exc.message
            self._failed_at.setdefault(project, time.monotonic())
        except Exception:  # a deleted project, a bug: the next foreground read reports it
            log.exception("promptstage: re-checking the state of project %r failed", project)
            self._states.pop(project, None)
        else:
            self.unreachable = None
            self._failed_at.pop(project, None)
        finally:
            with self._guard:
                self._checking.discard(project)

    def held(self) -> dict[str, float]:
        """Project -> seconds since its state was last confirmed current (no I/O)."""
        now = time.monotonic()
        return {p: max(0.0, now - s.checked_at) for p, s in list(self._states.items())}

    def peek(self, project: str) -> ProjectState | None:
        """The cached state when :meth:`read` would answer it as current without any I/O,
        else ``None``: nothing newer is known and either the periodic re-check is not due, or
        it is due and starts in the background (as :meth:`read` does). A state whose last
        re-check failed, or strict reads (``check_seconds == 0``), are left to :meth:`read`."""
        state = self._states.get(project)
        if state is None or self._ctx.bus.latest(project) > state.seq:
            return None
        if time.monotonic() - state.checked_at < self._check:
            return state
        if self._check > 0 and project not in self._failed_at:
            self._recheck_in_background(project)
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
                settle(fresh)
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
    p, number = _pointed(state, prompt, label)
    resolution = resolve(number, p.releases.get(label), unit, context)
    return Resolved(p.versions[resolution.version], label, resolution)


def resolve_answer(
    state: ProjectState, prompt: str, label: str, unit: str | None, context: dict[str, Any]
) -> bytes:
    """The JSON body of ``GET .../resolve`` (without ``render``), kept per label and resolution
    (``PromptState.answer``).

    Raises:
        NotFoundError: as :func:`resolve_label`.
    """
    p, number = _pointed(state, prompt, label)
    return p.answer(label, resolve(number, p.releases.get(label), unit, context))


def _pointed(state: ProjectState, prompt: str, label: str) -> tuple[PromptState, int]:
    """The prompt's state and the version its label points at.

    Raises:
        NotFoundError: the prompt or the label does not exist (with a suggestion).
    """
    p = state.prompts.get(prompt)
    if p is None:
        raise NotFoundError(
            f"prompt {prompt!r} does not exist{_suggestion(state, prompt)}", field="prompt"
        )
    number = p.labels.get(label)
    if number is None:
        raise NotFoundError(label_not_found_message(prompt, label, p.labels, False), field="label")
    return p, number


SUGGEST_AROUND: Final = 128
"""Names either side of where an unknown name would sort that a 404 compares it with."""


def _suggestion(state: ProjectState, prompt: str) -> str:
    """``did_you_mean`` among the names sorting near ``prompt``: bounded work per 404 (against
    all 100,000 names of a large project it costs seconds of CPU on the event loop)."""
    names = state.sorted_names()
    if len(names) > 2 * SUGGEST_AROUND:
        at = bisect.bisect_left(names, prompt)
        names = names[max(0, at - SUGGEST_AROUND) : at + SUGGEST_AROUND]
    return did_you_mean(prompt, names)
