"""The admin UI's reads: a filtered page of prompts and, for one page, its labels, last moves
and latest releases, each in one query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from promptstage.domain.models import LabelMove, Prompt
from promptstage.domain.names import LATEST
from promptstage.domain.releases import Release

from . import rows
from .releases import _to_release
from .tables import label_moves, labels, prompts, releases
from .uow_base import UnitOfWorkBase

# Built once: these run on every overview page, where building and hashing a statement would
# cost as much as running it. Lists of names are expanding parameters.
_PROJECT: BindParameter[str] = bindparam("project")
_PROMPTS: BindParameter[list[str]] = bindparam("prompts", expanding=True)

_LABELS_OF = select(labels.c.prompt, labels.c.label, labels.c.version).where(
    labels.c.project == _PROJECT, labels.c.prompt.in_(_PROMPTS)
)

_LAST_MOVES = select(label_moves).where(
    label_moves.c.id.in_(
        select(func.max(label_moves.c.id))
        .where(label_moves.c.project == _PROJECT, label_moves.c.prompt.in_(_PROMPTS))
        .group_by(label_moves.c.prompt, label_moves.c.label)
    )
)

_RANKED = (
    select(
        releases,
        func.row_number()
        .over(
            partition_by=(releases.c.prompt, releases.c.label),
            order_by=(releases.c.created_at.desc(), releases.c.id.desc()),
        )
        .label("rank"),
    )
    .where(releases.c.project == _PROJECT, releases.c.prompt.in_(_PROMPTS))
    .subquery("ranked")
)
_LATEST_RELEASES = select(_RANKED).where(_RANKED.c.rank == 1)

_LABELS_IN_USE = (
    select(labels.c.label)
    .where(labels.c.project == _PROJECT)
    .group_by(labels.c.label)
    .order_by(labels.c.label)
)


class OverviewRepository(UnitOfWorkBase):
    """Reads for the overview and prompt pages (``store.base.OverviewRepo``)."""

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        if self._conn.dialect.name == "postgresql":
            return prompts.c.tags.op("@>")(bindparam(None, [tag], type_=JSONB))
        each = func.json_each(prompts.c.tags).table_valued("value")
        return exists(select(1).select_from(each).where(each.c.value == tag))

    def search_prompts(
        self,
        project: str,
        *,
        contains: str | None,
        tag: str | None,
        label: str | None,
        limit: int,
        after: str | None,
    ) -> list[Prompt]:
        """Prompts by name after ``after``, filtered by name substring, tag and label."""
        stmt = select(prompts).where(prompts.c.project == project, prompts.c.archived_at.is_(None))
        if contains:
            stmt = stmt.where(
                func.lower(prompts.c.name).contains(contains.lower(), autoescape=True)
            )
        if tag:
            stmt = stmt.where(self._has_tag(tag))
        if label == LATEST:
            stmt = stmt.where(prompts.c.latest_version > 0)
        elif label:
            stmt = stmt.where(
                exists(
                    select(labels.c.label).where(
                        labels.c.project == project,
                        labels.c.prompt == prompts.c.name,
                        labels.c.label == label,
                    )
                )
            )
        if after is not None:
            stmt = stmt.where(prompts.c.name > after)
        stmt = stmt.order_by(prompts.c.name).limit(limit)
        return [rows.to_prompt(row) for row in self._conn.execute(stmt)]

    def labels_in_use(self, project: str) -> list[str]:
        """The distinct labels of ``project``, by name."""
        return [row.label for row in self._conn.execute(_LABELS_IN_USE, {"project": project})]

    def labels_of(self, project: str, prompts: Sequence[str]) -> dict[str, dict[str, int]]:
        """``prompt -> label -> version`` for ``prompts``."""
        found: dict[str, dict[str, int]] = {}
        if not prompts:
            return found
        params = {"project": project, "prompts": list(prompts)}
        for row in self._conn.execute(_LABELS_OF, params):
            found.setdefault(row.prompt, {})[row.label] = row.version
        return found

    def last_label_moves(
        self, project: str, prompts: Sequence[str]
    ) -> dict[tuple[str, str], LabelMove]:
        """The newest move of each ``(prompt, label)``: the largest id per group, read through
        the ``(project, prompt, label, id)`` index."""
        if not prompts:
            return {}
        params = {"project": project, "prompts": list(prompts)}
        return {
            (row.prompt, row.label): rows.to_label_move(row)
            for row in self._conn.execute(_LAST_MOVES, params)
        }

    def latest_releases(
        self, project: str, prompts: Sequence[str]
    ) -> dict[tuple[str, str], Release]:
        """The newest release (by creation time, then id) of each ``(prompt, label)``."""
        if not prompts:
            return {}
        params = {"project": project, "prompts": list(prompts)}
        out: dict[tuple[str, str], Release] = {}
        for row in self._conn.execute(_LATEST_RELEASES, params):
            release = _to_release(row)
            out[(release.prompt, release.label)] = release
        return out

    def prompt_moves(
        self, project: str, prompt: str, *, limit: int, before: int | None
    ) -> list[tuple[int, LabelMove]]:
        """Moves of every label of ``prompt``, newest first, below id ``before``."""
        stmt = select(label_moves).where(
            label_moves.c.project == project, label_moves.c.prompt == prompt
        )
        if before is not None:
            stmt = stmt.where(label_moves.c.id < before)
        stmt = stmt.order_by(label_moves.c.id.desc()).limit(limit)
        return [(row.id, rows.to_label_move(row)) for row in self._conn.execute(stmt)]

    def prompt_counts(self, projects: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``project -> (prompts, agents)`` in one grouped query."""
        if not projects:
            return {}
        find: Any = func.strpos if self._conn.dialect.name == "postgresql" else func.instr
        dot = find(prompts.c.name, ".")
        agent = case((dot > 0, func.substr(prompts.c.name, 1, dot - 1)), else_=prompts.c.name)
        stmt = (
            select(
                prompts.c.project,
                func.count().label("prompts"),
                func.count(cast(agent, String).distinct()).label("agents"),
            )
            .where(prompts.c.project.in_(list(projects)))
            .group_by(prompts.c.project)
        )
        return {row.project: (row.prompts, row.agents) for row in self._conn.execute(stmt)}
