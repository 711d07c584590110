"""Idempotency keys: claims, their ``applied`` mark and the answers they replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from promptstage.domain.idempotency import IdempotencyRecord, StoredResponse

from .tables import idempotency_keys as t
from .uow_base import UnitOfWorkBase, utc


def _to_record(row: Any) -> IdempotencyRecord:
    response = None
    if row.status is not None:
        headers = tuple((str(name), str(value)) for name, value in row.headers or ())
        response = StoredResponse(int(row.status), headers, bytes(row.body or b""))
    return IdempotencyRecord(
        scope=row.scope,
        key=row.key,
        request_hash=row.request_hash,
        owner=row.owner,
        created_at=row.created_at,
        applied=bool(row.applied),
        response=response,
    )


def _values(record: IdempotencyRecord) -> dict[str, Any]:
    response = record.response
    return {
        "scope": record.scope,
        "key": record.key,
        "request_hash": record.request_hash,
        "owner": record.owner,
        "created_at": utc(record.created_at),
        "applied": record.applied,
        "status": None if response is None else response.status,
        "headers": None if response is None else [list(pair) for pair in response.headers],
        "body": None if response is None else response.body,
    }


class IdempotencyRepository(UnitOfWorkBase):
    """One row per claimed key; every change after the claim is conditional on its owner."""

    def claim_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless ``(scope, key)`` is taken: ``None`` when inserted, else the
        record already there. ``ON CONFLICT DO NOTHING`` waits for a concurrent claim's commit,
        so of two concurrent claims exactly one inserts and the other reads it."""
        self._require_write("claim_idempotency")
        from sqlalchemy.dialects import postgresql, sqlite

        insert = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(t).values(_values(record)).on_conflict_do_nothing().returning(t.c.scope)
        if self._conn.execute(stmt).first() is not None:  # rowcount is not reliable here
            return None
        row = self._conn.execute(
            select(t).where(t.c.scope == record.scope, t.c.key == record.key)
        ).first()
        return None if row is None else _to_record(row)

    def _owned(self, scope: str, key: str, owner: str) -> Any:
        return (t.c.scope == scope) & (t.c.key == key) & (t.c.owner == owner)

    def replace_idempotency(self, owner: str, record: IdempotencyRecord) -> bool:
        """Replace the claim held by ``owner`` with ``record``; ``False`` if it changed first."""
        self._require_write("replace_idempotency")
        stmt = update(t).where(self._owned(record.scope, record.key, owner)).values(_values(record))
        return bool(self._conn.execute(stmt).rowcount)

    def mark_idempotency_applied(self, scope: str, key: str, owner: str) -> bool:
        """Mark ``owner``'s claim applied; ``False`` if the claim is not its any more."""
        self._require_write("mark_idempotency_applied")
        stmt = update(t).where(self._owned(scope, key, owner)).values(applied=True)
        return bool(self._conn.execute(stmt).rowcount)

    def finish_idempotency(
        self, scope: str, key: str, owner: str, response: StoredResponse
    ) -> bool:
        """Store ``owner``'s answer; ``False`` if the claim is not its any more."""
        self._require_write("finish_idempotency")
        stmt = (
            update(t)
            .where(self._owned(scope, key, owner))
            .values(
                status=response.status,
                headers=[list(pair) for pair in response.headers],
                body=response.body,
            )
        )
        return bool(self._conn.execute(stmt).rowcount)

    def release_idempotency(self, scope: str, key: str, owner: str) -> None:
        """Drop ``owner``'s claim unless something was applied under it."""
        self._require_write("release_idempotency")
        self._conn.execute(delete(t).where(self._owned(scope, key, owner), t.c.applied.is_(False)))

    def delete_idempotency_before(self, at: datetime) -> int:
        """Delete claims taken before ``at``; the number deleted."""
        self._require_write("delete_idempotency_before")
        result = self._conn.execute(delete(t).where(t.c.created_at < utc(at)))
        return max(int(result.rowcount or 0), 0)
