"""The dependency catalog and drift counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update

from promptstage.domain.deps import CatalogEntry
from promptstage.domain.drift import DriftCount, Mismatch
from promptstage.errors import ConflictError

from .tables import dep_drift, dep_entries, versions
from .uow_base import UnitOfWorkBase, utc


def _to_entry(row: Any) -> CatalogEntry:
    return CatalogEntry(
        project=row.project,
        kind=row.kind,
        name=row.name,
        version=row.version,
        digest=row.digest,
        body=row.body,
        author=row.author,
        created_at=row.created_at,
        retires_on=date.fromisoformat(row.retires_on) if row.retires_on else None,
    )


def _to_drift(row: Any) -> DriftCount:
    return DriftCount(
        project=row.project,
        prompt=row.prompt,
        version=int(row.version),
        label=row.label,
        kind=row.kind,
        expected=row.expected,
        observed=row.observed,
        count=int(row.count),
        first_at=row.first_at,
        last_at=row.last_at,
    )


class DepsRepository(UnitOfWorkBase):
    """Catalog entries (immutable) and the drift counters."""

    def add_dep_entry(self, entry: CatalogEntry) -> None:
        """Insert an entry; ``ConflictError`` if (kind, name, version) exists."""
        self._require_write("add_dep_entry")
        self._insert(
            dep_entries.insert().values(
                project=entry.project,
                kind=entry.kind,
                name=entry.name,
                version=entry.version,
                digest=entry.digest,
                body=entry.body,
                author=entry.author,
                created_at=utc(entry.created_at),
                retires_on=entry.retires_on.isoformat() if entry.retires_on else None,
            ),
            conflict=f"{entry.kind}:{entry.name}@{entry.version} already exists",
            missing=self._project_missing(entry.project),
        )

    def get_dep_entry(
        self, project: str, kind: str, name: str, version: str
    ) -> CatalogEntry | None:
        stmt = select(dep_entries).where(
            dep_entries.c.project == project,
            dep_entries.c.kind == kind,
            dep_entries.c.name == name,
            dep_entries.c.version == version,
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else _to_entry(row)

    def list_dep_entries(
        self, project: str, kind: str | None = None, name: str | None = None
    ) -> list[CatalogEntry]:
        """Entries by kind and name, each name's versions oldest first."""
        stmt = select(dep_entries).where(dep_entries.c.project == project)
        if kind is not None:
            stmt = stmt.where(dep_entries.c.kind == kind)
        if name is not None:
            stmt = stmt.where(dep_entries.c.name == name)
        stmt = stmt.order_by(
            dep_entries.c.kind, dep_entries.c.name, dep_entries.c.created_at, dep_entries.c.version
        )
        return [_to_entry(row) for row in self._conn.execute(stmt)]

    def set_dep_retirement(
        self, project: str, kind: str, name: str, version: str, retires_on: date | None
    ) -> bool:
        """Set (or clear) a model's retirement date; ``False`` if the entry does not exist."""
        self._require_write("set_dep_retirement")
        result = self._conn.execute(
            update(dep_entries)
            .where(
                dep_entries.c.project == project,
                dep_entries.c.kind == kind,
                dep_entries.c.name == name,
                dep_entries.c.version == version,
            )
            .values(retires_on=retires_on.isoformat() if retires_on else None)
        )
        return bool(result.rowcount)

    def version_configs(self, project: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """``(prompt, number, config)`` of every version of the project, by prompt and number."""
        stmt = (
            select(versions.c.prompt, versions.c.number, versions.c.config)
            .where(versions.c.project == project)
            .order_by(versions.c.prompt, versions.c.number)
        )
        for row in self._conn.execute(stmt):
            yield row.prompt, int(row.number), row.config

    def count_drift(
        self,
        project: str,
        prompt: str,
        version: int,
        label: str,
        m: Mismatch,
        at: datetime,
        n: int = 1,
    ) -> bool:
        """Count ``n`` mismatching calls, the last at ``at``; ``True`` when this (kind, observed)
        is new for the (prompt, version, label)."""
        self._require_write("count_drift")
        key = _drift_key(project, prompt, version, label, m)
        when = utc(at)
        bumped = self._conn.execute(
            update(dep_drift).where(*key).values(count=dep_drift.c.count + n, last_at=when)
        )
        if bumped.rowcount:
            return False
        try:
            self._insert(
                dep_drift.insert().values(
                    project=project,
                    prompt=prompt,
                    version=version,
                    label=label,
                    kind=m.kind,
                    observed=m.observed[:256],
                    expected=m.expected,
                    count=n,
                    first_at=when,
                    last_at=when,
                ),
                conflict="drift row raced",
            )
        except ConflictError:  # another ingest inserted it meanwhile: count on its row
            self._conn.execute(
                update(dep_drift).where(*key).values(count=dep_drift.c.count + n, last_at=when)
            )
            return False
        return True

    def claim_drift(
        self, project: str, prompt: str, version: int, label: str, m: Mismatch, at: datetime
    ) -> bool:
        """Mark the mismatch announced at ``at``; ``True`` for the one caller that did (write
        its ``deps.drift`` event in the same transaction), ``False`` when it already was."""
        self._require_write("claim_drift")
        claimed = self._conn.execute(
            update(dep_drift)
            .where(
                *_drift_key(project, prompt, version, label, m), dep_drift.c.announced_at.is_(None)
            )
            .values(announced_at=utc(at))
        )
        return bool(claimed.rowcount)

    def unannounced_drift(self, limit: int) -> list[DriftCount]:
        """Up to ``limit`` mismatches no announcement has claimed yet, oldest first."""
        stmt = (
            select(dep_drift)
            .where(dep_drift.c.announced_at.is_(None))
            .order_by(dep_drift.c.first_at, dep_drift.c.project, dep_drift.c.prompt)
            .limit(limit)
        )
        return [_to_drift(row) for row in self._conn.execute(stmt)]

    def list_drift(
        self,
        project: str | None,
        prompt: str | None = None,
        version: int | None = None,
        label: str | None = None,
    ) -> list[DriftCount]:
        """Drift counters (``project=None``: of every project), most recent first."""
        stmt = select(dep_drift)
        if project is not None:
            stmt = stmt.where(dep_drift.c.project == project)
        if prompt is not None:
            stmt = stmt.where(dep_drift.c.prompt == prompt)
        if version is not None:
            stmt = stmt.where(dep_drift.c.version == version)
        if label is not None:
            stmt = stmt.where(dep_drift.c.label == label)
        stmt = stmt.order_by(dep_drift.c.last_at.desc(), dep_drift.c.kind, dep_drift.c.observed)
        return [_to_drift(row) for row in self._conn.execute(stmt)]


def _drift_key(
    project: str, prompt: str, version: int, label: str, m: Mismatch
) -> tuple[ColumnElement[bool], ...]:
    return (
        dep_drift.c.project == project,
        dep_drift.c.prompt == prompt,
        dep_drift.c.version == version,
        dep_drift.c.label == label,
        dep_drift.c.kind == m.kind,
        dep_drift.c.observed == m.observed[:256],
    )
