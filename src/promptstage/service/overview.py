"""What is live where: the read model of the admin UI's home and overview pages.

The overview is a table of a project's prompts by its labels. A page of it costs a fixed number
of queries whatever the project holds: the filtered page of prompts (by name through the
primary key), the labels in use, and for the page's prompts their labels, the last move of each
label and each label's latest release, each one query (``store.base.OverviewRepo``).

An **agent** is the part of a prompt's name before its first dot: ``booking.system`` and
``booking.router`` are prompts of the agent ``booking``; a name without a dot is an agent of
its own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from promptstage.domain import names
from promptstage.domain.models import LabelMove, Project, Prompt, Role
from promptstage.domain.releases import Release
from promptstage.errors import InvalidInputError
from promptstage.store.base import OverviewRepo, Store

from . import access
from .context import Context
from .keys import Principal
from .pagination import decode_cursor, page
from .prompts import require_project

PAGE_SIZE: Final = 50
FIRST_LABELS: Final = ("prod", "staging")
MAX_QUERY: Final = 128
MAX_TAG: Final = 64


def agent_of(prompt: str) -> str:
    """The agent a prompt belongs to: its name up to the first dot."""
    return prompt.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project on the home page, with how many prompts and agents it holds."""

    project: Project
    prompts: int
    agents: int


def project_summaries(ctx: Context, visible: Collection[str] | None) -> list[ProjectSummary]:
    """The projects in ``visible`` (``None``: every one) with their prompt and agent counts."""
    with ctx.store.unit_of_work() as uow:
        projects = [p for p in uow.list_projects() if visible is None or p.name in visible]
        counts = uow.prompt_counts([p.name for p in projects])
    return [ProjectSummary(p, *counts.get(p.name, (0, 0))) for p in projects]


@dataclass(frozen=True, slots=True)
class Badge:
    """A release's state in a few words; ``tone`` is ``info``, ``warn`` or ``bad``."""

    text: str
    tone: str
    release_id: str


def _percent(bps: int) -> str:
    return f"{bps / 100:g}"


def release_badge(release: Release | None, last_move: LabelMove | None) -> Badge | None:
    """The badge of a label: its active release (canary 5 %, ramp step 2/4, A/B 50/50, paused),
    or ``regressed`` while the last thing that happened to it was a rolled-back release."""
    if release is None:
        return None
    if release.active:
        if release.strategy == "canary":
            text = f"canary {_percent(release.weight_bps)} %"
        elif release.strategy == "ramp":
            text = (
                f"ramp step {release.step_index + 1}/{len(release.steps)} "
                f"· {_percent(release.weight_bps)} %"
            )
        else:
            text = f"A/B {_percent(10000 - release.weight_bps)}/{_percent(release.weight_bps)}"
        if release.state == "paused":
            return Badge(f"paused · {text}", "warn", release.id)
        return Badge(text, "info", release.id)
    ended = release.ended_at or release.updated_at
    if release.state == "rolled_back" and (last_move is None or last_move.at <= ended):
        return Badge("regressed · rolled back", "bad", release.id)
    return None


@dataclass(frozen=True, slots=True)
class Cell:
    """One (prompt, label): the version it serves (``None``: not set), its release badge and
    its last move."""

    label: str
    version: int | None
    badge: Badge | None
    last_move: LabelMove | None


@dataclass(frozen=True, slots=True)
class OverviewRow:
    prompt: Prompt
    agent: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Filters:
    """The overview's filters, checked: name substring, tag, label (``""``: none)."""

    q: str = ""
    tag: str = ""
    label: str = ""

    @classmethod
    def parse(cls, q: str | None, tag: str | None, label: str | None) -> Filters:
        """Trim and check the filters.

        Raises:
            InvalidInputError: naming ``q``, ``tag`` or ``label`` and the rule.
        """
        q, tag, label = (q or "").strip(), (tag or "").strip(), (label or "").strip()
        if len(q) > MAX_QUERY:
            raise InvalidInputError(
                f"q (the name search) must be at most {MAX_QUERY} characters", field="q"
            )
        if len(tag) > MAX_TAG:
            raise InvalidInputError(f"tag must be at most {MAX_TAG} characters", field="tag")
        if label:
            names.label_name(label, movable=False)
        return cls(q, tag, label)


@dataclass(frozen=True, slots=True)
class OverviewPage:
    project: str
    columns: tuple[str, ...]
    labels_in_use: tuple[str, ...]
    rows: tuple[OverviewRow, ...]
    filters: Filters
    next_cursor: str | None


def order_labels(in_use: Collection[str]) -> tuple[str, ...]:
    """``prod`` and ``staging`` first (when in use), then the others by name."""
    first = [label for label in FIRST_LABELS if label in in_use]
    return (*first, *sorted(set(in_use) - set(first)))


class _InUse:
    """The labels in use per project, remembered with the project's event sequence.

    Reading them means scanning every label of the project (the one read of the overview
    that grows with its size); a label only appears or disappears with an event, so while the
    sequence (one primary-key read) is unchanged the remembered answer is still right, on
    every replica. Held per store, so two stores (tests) never share an answer.
    """

    def __init__(self) -> None:
        self._by_store: weakref.WeakKeyDictionary[Store, dict[str, tuple[int, tuple[str, ...]]]]
        self._by_store = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, store: Store, uow: OverviewRepo, seq: int, project: str) -> tuple[str, ...]:
        with self._lock:
            known = self._by_store.setdefault(store, {}).get(project)
        if known is not None and known[0] == seq:
            return known[1]
        found = order_labels(uow.labels_in_use(project))
        with self._lock:
            self._by_store[store][project] = (seq, found)
        return found


_in_use = _InUse()


def overview(
    ctx: Context,
    who: Principal,
    project: str,
    filters: Filters,
    *,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> OverviewPage:
    """One page of the project's prompts by labels (``latest`` is the last column).

    Raises:
        PermissionDeniedError: ``who`` has no reading role in ``project``.
        NotFoundError: no such project.
        InvalidInputError: a bad cursor.
    """
    access.check(who, project, Role.editor)
    after = decode_cursor(cursor, str)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        found = uow.search_prompts(
            project,
            contains=filters.q or None,
            tag=filters.tag or None,
            label=filters.label or None,
            limit=limit + 1,
            after=after,
        )
        prompts, next_cursor = page(found, limit, lambda p: p.name)
        in_use = _in_use.get(ctx.store, uow, uow.last_event_seq(project), project)
        page_names = [p.name for p in prompts]
        labels = uow.labels_of(project, page_names)
        moves = uow.last_label_moves(project, page_names)
        releases = uow.latest_releases(project, page_names)
    columns = (*in_use, names.LATEST)
    rows = tuple(_row(p, columns, labels.get(p.name, {}), moves, releases) for p in prompts)
    return OverviewPage(project, columns, in_use, rows, filters, next_cursor)


def _row(
    prompt: Prompt,
    columns: tuple[str, ...],
    labels: Mapping[str, int],
    moves: Mapping[tuple[str, str], LabelMove],
    releases: Mapping[tuple[str, str], Release],
) -> OverviewRow:
    cells = []
    for label in columns:
        if label == names.LATEST:
            cells.append(Cell(label, prompt.latest_version or None, None, None))
            continue
        move = moves.get((prompt.name, label))
        badge = release_badge(releases.get((prompt.name, label)), move)
        cells.append(Cell(label, labels.get(label), badge, move))
    return OverviewRow(prompt, agent_of(prompt.name), tuple(cells))
