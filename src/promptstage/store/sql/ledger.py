"""Audit chain, event outbox and API keys: the ledger half of the SQL unit of work."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from promptstage.domain.audit import GENESIS, AuditFilter, chain_hash
from promptstage.domain.models import ApiKey, AuditRecord, Event
from promptstage.domain.principals import PrincipalRecord
from promptstage.errors import NotFoundError

from . import rows
from .audit_filter import audit_conditions
from .tables import api_keys, audit, events, principals, projects
from .uow_base import UnitOfWorkBase, utc

NOTIFY_CHANNEL = "promptstage_events"
_AUDIT_PAGE = 500  # rows per query while iterating the audit chain


class LedgerRepository(UnitOfWorkBase):
    """Append-only records: the hash-chained audit log, the outbox, and API keys."""

    # audit and outbox ---------------------------------------------------------------------
    def _next_seq(self, project: str, column: str) -> tuple[int, Any]:
        """Increment a project counter and return ``(new value, project row)``.

        ``UPDATE ... RETURNING`` also takes the row lock on Postgres, so even a caller that
        forgot ``lock_project`` cannot fork the chain or reuse a sequence number.
        """
        counter = projects.c[column]
        stmt = (
            update(projects)
            .where(projects.c.name == project)
            .values({counter: counter + 1})
            .returning(counter, projects.c.audit_head)
        )
        row = self._conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"project {project!r} does not exist")
        return int(row[0]), row

    def append_audit(
        self,
        project: str,
        *,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        reason: str,
        at: datetime,
    ) -> AuditRecord:
        """Chain a new audit row onto the project's head and move the head to it."""
        self._require_write("append_audit")
        seq, row = self._next_seq(project, "audit_seq")
        prev_hash = row.audit_head or GENESIS
        record = AuditRecord(
            project=project, seq=seq, at=utc(at), actor=actor, action=action,
            target=target, before=before, after=after, reason=reason, prev_hash=prev_hash,
            hash="",
        )  # fmt: skip
        record = dataclasses.replace(record, hash=chain_hash(prev_hash, record.chained()))
        values = {field.name: getattr(record, field.name) for field in dataclasses.fields(record)}
        self._conn.execute(audit.insert().values(values))
        self._conn.execute(
            update(projects).where(projects.c.name == project).values(audit_head=record.hash)
        )
        return record

    def list_audit(
        self, project: str, *, limit: int, before: int | None, where: AuditFilter | None = None
    ) -> list[AuditRecord]:
        """Audit rows newest first, below sequence ``before``, filtered by ``where``."""
        stmt = select(audit).where(audit.c.project == project)
        if where is not None:
            stmt = stmt.where(*audit_conditions(project, where))
        if before is not None:
            stmt = stmt.where(audit.c.seq < before)
        stmt = stmt.order_by(audit.c.seq.desc()).limit(limit)
        return [rows.to_audit(row) for row in self._conn.execute(stmt)]

    def iter_audit(self, project: str) -> Iterator[AuditRecord]:
        """Every audit row in sequence order, read in pages; consume it inside the unit of work."""
        after = 0
        while True:
            stmt = (
                select(audit)
                .where(audit.c.project == project, audit.c.seq > after)
                .order_by(audit.c.seq)
                .limit(_AUDIT_PAGE)
            )
            page = [rows.to_audit(row) for row in self._conn.execute(stmt)]
            yield from page
            if len(page) < _AUDIT_PAGE:
                return
            after = page[-1].seq

    def audit_head(self, project: str) -> tuple[int, str]:
        """``(seq, hash)`` of the newest row the application chained: ``(0, GENESIS)`` for none.

        Read from the project row, which ``append_audit`` moves in the same transaction as
        the insert; a row inserted or deleted behind promptstage's back does not move it.
        """
        stmt = select(projects.c.audit_seq, projects.c.audit_head).where(projects.c.name == project)
        row = self._conn.execute(stmt).first()
        if row is None:
            raise NotFoundError(f"project {project!r} does not exist")
        return int(row.audit_seq), row.audit_head or GENESIS

    def append_event(self, project: str, type_: str, data: dict[str, Any], at: datetime) -> Event:
        """Add an outbox event with the project's next sequence number."""
        self._require_write("append_event")
        seq, _ = self._next_seq(project, "event_seq")
        event = Event(project=project, seq=seq, type=type_, data=data, at=utc(at))
        self._conn.execute(
            events.insert().values(project=project, seq=seq, type=type_, data=data, at=event.at)
        )
        if self._conn.dialect.name == "postgresql":
            # Delivered to listeners only when this transaction commits (NOTIFY is transactional),
            # so other replicas never hear of an event they cannot read yet.
            self._conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, f"{seq}:{project}")))
        return event

    def events_since(self, project: str, seq: int, *, limit: int) -> list[Event]:
        """Events after sequence ``seq``, oldest first, at most ``limit``."""
        stmt = (
            select(events)
            .where(events.c.project == project, events.c.seq > seq)
            .order_by(events.c.seq)
            .limit(limit)
        )
        return [rows.to_event(row) for row in self._conn.execute(stmt)]

    def last_event_seq(self, project: str) -> int:
        """The project's newest event sequence number (0 when none, or no such project)."""
        stmt = select(projects.c.event_seq).where(projects.c.name == project)
        return int(self._conn.execute(stmt).scalar() or 0)

    # keys ---------------------------------------------------------------------------------
    def add_key(self, key: ApiKey, secret_hash: str) -> None:
        """Store a key and its secret hash; ``ConflictError`` on a duplicate id or prefix."""
        self._require_write("add_key")
        stmt = api_keys.insert().values(
            id=key.id, project=key.project, prefix=key.prefix, name=key.name,
            role=key.role.value, secret_hash=secret_hash, created_at=key.created_at,
            created_by=key.created_by, revoked_at=key.revoked_at, principal=key.principal,
            expires_at=key.expires_at,
        )  # fmt: skip
        self._insert(
            stmt,
            conflict=f"an API key with id {key.id!r} or prefix {key.prefix!r} already exists",
            missing=self._project_missing(key.project),
        )

    def get_key(self, prefix: str) -> tuple[ApiKey, str] | None:
        """The key with this prefix and its stored secret hash, or ``None``."""
        row = self._conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).first()
        return None if row is None else (rows.to_key(row), row.secret_hash)

    def list_keys(self, project: str | None) -> list[ApiKey]:
        """Keys of ``project`` oldest first; ``None`` lists every key of the instance."""
        stmt = select(api_keys)
        if project is not None:
            stmt = stmt.where(api_keys.c.project == project)
        stmt = stmt.order_by(api_keys.c.created_at, api_keys.c.prefix)
        return [rows.to_key(row) for row in self._conn.execute(stmt)]

    def revoke_key(self, prefix: str, at: datetime) -> None:
        """Revoke the key; revoking it again keeps the first revocation time."""
        self._require_write("revoke_key")
        stmt = (
            update(api_keys)
            .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if self._conn.execute(stmt).rowcount == 0 and self.get_key(prefix) is None:
            raise NotFoundError(f"no API key with prefix {prefix!r}")

    def count_keys(self) -> int:
        """Every key ever added, revoked ones included."""
        return int(self._conn.execute(select(func.count()).select_from(api_keys)).scalar_one())

    def set_key_expiry(self, prefix: str, expires_at: datetime) -> None:
        """Set when the key stops working (a rotation's grace period)."""
        self._require_write("set_key_expiry")
        stmt = update(api_keys).where(api_keys.c.prefix == prefix).values(expires_at=expires_at)
        if self._conn.execute(stmt).rowcount == 0:
            raise NotFoundError(f"no API key with prefix {prefix!r}")

    # principals ---------------------------------------------------------------------------
    def add_principal(self, principal: PrincipalRecord) -> None:
        """Store a principal; ``ConflictError`` when its name is taken in its scope."""
        self._require_write("add_principal")
        project = principal.project
        stmt = principals.insert().values(
            id=f"{project or ''}/{principal.name}", project=project, name=principal.name,
            kind=principal.kind.value, created_at=principal.created_at,
            created_by=principal.created_by,
        )  # fmt: skip
        self._insert(
            stmt,
            conflict=f"a principal named {principal.name!r} already exists; pick another name",
            missing=self._project_missing(project),
        )

    def get_principal(self, project: str | None, name: str) -> PrincipalRecord | None:
        """The principal ``name`` of ``project`` (``None``: instance-level), or ``None``."""
        stmt = select(principals).where(principals.c.id == f"{project or ''}/{name}")
        row = self._conn.execute(stmt).first()
        return None if row is None else rows.to_principal(row)

    def list_principals(self, project: str | None) -> list[PrincipalRecord]:
        """Principals of ``project`` (``None``: instance-level ones), by name."""
        scope = (
            principals.c.project.is_(None) if project is None else principals.c.project == project
        )
        stmt = select(principals).where(scope).order_by(principals.c.name)
        return [rows.to_principal(row) for row in self._conn.execute(stmt)]
