"""The call log: bulk inserts of call records and scores, filtered reads, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select

from promptstage.domain.calls import CallFilter, CallRecord, Score

from .tables import calls, scores
from .uow_base import UnitOfWorkBase, utc

_CALL_COLUMNS = tuple(c.name for c in calls.columns)
_JSON_COLUMNS = frozenset({"context", "variables", "output", "tools_used"})
_PG_INSERT = (
    f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(_CALL_COLUMNS))}) ON CONFLICT (id) DO NOTHING"
)


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

    def _insert_ignoring_duplicates(self, rows: list[dict[str, Any]]) -> int:
        if self._conn.dialect.name == "postgresql":
            return self._insert_postgres(rows)
        from sqlalchemy.dialects.sqlite import insert

        stmt = insert(calls).on_conflict_do_nothing(index_elements=["id"])
        return max(int(self._conn.execute(stmt, rows).rowcount or 0), 0)

    def _insert_postgres(self, rows: list[dict[str, Any]]) -> int:
        """The hottest write path: plain ``executemany`` of tuples, which psycopg pipelines.

        Going through the driver directly skips SQLAlchemy's per-row parameter processing,
        which costs about as much as the insert itself at ingest rates.
        """
        from psycopg.types.json import Jsonb

        params = [
            tuple(
                (None if row[c] is None else Jsonb(row[c])) if c in _JSON_COLUMNS else row[c]
                for c in _CALL_COLUMNS
            )
            for row in rows
        ]
        result = self._conn.exec_driver_sql(_PG_INSERT, params)
        return max(int(result.rowcount or 0), 0)

    def add_calls(self, project: str, records: list[CallRecord]) -> int:
        """Insert call records in one statement batch, skipping ids already stored."""
        self._require_write("add_calls")
        if not records:
            return 0
        return self._insert_ignoring_duplicates([_call_row(project, c) for c in records])

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

    def delete_calls_before(self, at: datetime) -> int:
        """Retention: delete calls and scores older than ``at``; returns the calls removed."""
        self._require_write("delete_calls_before")
        self._conn.execute(delete(scores).where(scores.c.at < utc(at)))
        result = self._conn.execute(delete(calls).where(calls.c.at < utc(at)))
        return int(result.rowcount or 0)
