"""The call log: bulk inserts of call records and scores, filtered reads, retention."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select

from promptstage.domain.calls import CallFilter, CallRecord, Score

from .ingest import IngestMethod, insert_postgres, insert_sqlite, minute_of
from .partitions import drop_before, ensure_ahead, is_partitioned
from .tables import call_rollups, calls, scores
from .uow_base import UnitOfWorkBase, utc


def _call_row(project: str, c: CallRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "project": project,
        "prompt": c.prompt,
        "label": c.label,
        "version": c.version,
        "digest": c.digest,
        "release_id": c.release_id,
        "arm": c.arm,
        "unit_hash": c.unit_hash,
        "context": c.context,
        "variables": c.variables,
        "output": c.output,
        "model": c.model,
        "latency_ms": c.latency_ms,
        "tokens_in": c.tokens_in,
        "tokens_out": c.tokens_out,
        "cost": c.cost,
        "error": c.error,
        "at": utc(c.at),
        "index_used": c.index,
        "tools_used": list(c.tools) if c.tools is not None else None,
    }


def _to_call(row: Any) -> CallRecord:
    return CallRecord(
        id=row.id,
        at=row.at,
        prompt=row.prompt,
        label=row.label,
        version=row.version,
        digest=row.digest,
        release_id=row.release_id,
        arm=row.arm,
        unit_hash=row.unit_hash,
        context=row.context,
        variables=row.variables,
        output=row.output,
        model=row.model,
        latency_ms=row.latency_ms,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        cost=row.cost,
        error=row.error,
        index=row.index_used,
        tools=tuple(row.tools_used) if row.tools_used is not None else None,
    )


class CallsRepository(UnitOfWorkBase):
    """Call records and scores. Ingest is append-only and takes no project lock."""

    def add_calls(
        self, project: str, records: list[CallRecord], *, method: IngestMethod = "copy"
    ) -> int:
        """Insert call records, skipping ids already stored (the first of an id in a batch
        wins), and add the new ones to the per-minute rollups; returns how many were new.

        ``method`` picks how Postgres loads the batch (``copy``: ``COPY FROM STDIN``;
        ``insert``: an ``executemany`` of ``INSERT``s); both give the same result
        (``store/sql/ingest.py``). SQLite ignores it.
        """
        self._require_write("add_calls")
        if not records:
            return 0
        if self._conn.dialect.name == "postgresql":
            return insert_postgres(self._conn, project, records, method)
        return insert_sqlite(self._conn, project, [_call_row(project, c) for c in records])

    def add_scores(self, project: str, items: list[Score]) -> None:
        """Insert scores in one statement batch."""
        self._require_write("add_scores")
        if not items:
            return
        self._conn.execute(
            insert(scores),
            [
                {
                    "project": project,
                    "call_id": s.call_id,
                    "name": s.name,
                    "value": s.value,
                    "source": s.source,
                    "at": utc(s.at),
                }
                for s in items
            ],
        )

    def list_calls(
        self, project: str, where: CallFilter, *, limit: int, before: tuple[datetime, str] | None
    ) -> list[CallRecord]:
        """Calls newest first, filtered, starting below the ``(at, id)`` position ``before``."""
        conditions = [calls.c.project == project]
        if where.prompt is not None:
            conditions.append(calls.c.prompt == where.prompt)
        if where.version is not None:
            conditions.append(calls.c.version == where.version)
        if where.release_id is not None:
            conditions.append(calls.c.release_id == where.release_id)
        if where.arm is not None:
            conditions.append(calls.c.arm == where.arm)
        if where.label is not None:
            conditions.append(calls.c.label == where.label)
        if where.since is not None:
            conditions.append(calls.c.at >= utc(where.since))
        if where.until is not None:
            conditions.append(calls.c.at < utc(where.until))
        if before is not None:
            at, call_id = before
            conditions.append(
                or_(calls.c.at < utc(at), and_(calls.c.at == utc(at), calls.c.id < call_id))
            )
        stmt = (
            select(calls)
            .where(*conditions)
            .order_by(calls.c.at.desc(), calls.c.id.desc())
            .limit(limit)
        )
        return [_to_call(row) for row in self._conn.execute(stmt)]

    def get_call(self, project: str, call_id: str) -> CallRecord | None:
        """One call by id."""
        stmt = select(calls).where(calls.c.project == project, calls.c.id == call_id)
        row = self._conn.execute(stmt).first()
        return _to_call(row) if row is not None else None

    def scores_of(self, project: str, call_id: str) -> list[Score]:
        """Every score attached to a call, oldest first."""
        stmt = (
            select(scores)
            .where(scores.c.project == project, scores.c.call_id == call_id)
            .order_by(scores.c.id)
        )
        return [Score(r.call_id, r.name, r.value, r.source, r.at) for r in self._conn.execute(stmt)]

    def ensure_call_partitions(self, today: date) -> list[date]:
        """Create the call log's day partitions of ``today`` and the days just after it
        (Postgres; nothing on SQLite). Returns the days created."""
        self._require_write("ensure_call_partitions")
        return ensure_ahead(self._conn, today)

    def delete_calls_before(self, at: datetime) -> int:
        """Retention: remove calls, their rollups and scores older than ``at``; returns the
        calls removed.

        The cutoff is rounded down to the minute, so that the per-minute rollups and the
        calls they sum are removed together. On Postgres every day partition wholly before
        the cutoff is dropped; rows are deleted one by one only in the partition the cutoff
        falls inside (and on SQLite).
        """
        self._require_write("delete_calls_before")
        cutoff = minute_of(utc(at))
        removed = drop_before(self._conn, cutoff) if is_partitioned(self._conn) else 0
        self._conn.execute(delete(scores).where(scores.c.at < utc(at)))
        self._conn.execute(delete(call_rollups).where(call_rollups.c.minute < cutoff))
        result = self._conn.execute(delete(calls).where(calls.c.at < cutoff))
        return removed + int(result.rowcount or 0)
