"""Users of the admin UI: passwords, memberships (role per project) and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update

from promptstage.domain.models import Role
from promptstage.domain.users import Membership, SessionRecord, UserCredential

from .tables import memberships, ui_sessions, user_credentials
from .uow_base import UnitOfWorkBase, utc


def _credential(row: Any) -> UserCredential:
    return UserCredential(
        row.name, row.password_hash, row.created_at, row.created_by, row.password_changed_at
    )


def _membership(row: Any) -> Membership:
    return Membership(row.project, row.name, Role(row.role), row.created_at, row.created_by)


def _session(row: Any) -> SessionRecord:
    return SessionRecord(
        row.key, row.name, row.created_at, row.last_seen_at, row.expires_at, row.revoked_at
    )


class UsersRepository(UnitOfWorkBase):
    """One credential per name, one membership per (project, name), sessions by token hash."""

    # credentials --------------------------------------------------------------------------
    def get_credential(self, name: str) -> UserCredential | None:
        """The password hash of ``name``, or ``None`` when it has none."""
        stmt = select(user_credentials).where(user_credentials.c.name == name)
        row = self._conn.execute(stmt).first()
        return None if row is None else _credential(row)

    def set_credential(self, credential: UserCredential) -> None:
        """Store ``credential``, replacing the hash of that name if it had one."""
        self._require_write("set_credential")
        t = user_credentials
        found = self._conn.execute(
            update(t)
            .where(t.c.name == credential.name)
            .values(
                password_hash=credential.password_hash,
                password_changed_at=utc(credential.password_changed_at),
            )
        ).rowcount
        if not found:
            self._insert(
                t.insert().values(
                    name=credential.name,
                    password_hash=credential.password_hash,
                    created_at=utc(credential.created_at),
                    created_by=credential.created_by,
                    password_changed_at=utc(credential.password_changed_at),
                ),
                conflict=f"the password of {credential.name!r} changed meanwhile; try again",
            )

    # memberships --------------------------------------------------------------------------
    def set_membership(self, membership: Membership) -> None:
        """Grant ``membership.role`` in its project (replacing a role held there)."""
        self._require_write("set_membership")
        t = memberships
        where = (t.c.project == membership.project) & (t.c.name == membership.name)
        if self._conn.execute(update(t).where(where).values(role=membership.role.value)).rowcount:
            return
        self._insert(
            t.insert().values(
                project=membership.project,
                name=membership.name,
                role=membership.role.value,
                created_at=utc(membership.created_at),
                created_by=membership.created_by,
            ),
            conflict=f"the role of {membership.name!r} changed meanwhile; try again",
            missing=self._project_missing(membership.project),
        )

    def get_membership(self, project: str, name: str) -> Membership | None:
        t = memberships
        row = self._conn.execute(select(t).where(t.c.project == project, t.c.name == name)).first()
        return None if row is None else _membership(row)

    def delete_membership(self, project: str, name: str) -> bool:
        """Remove ``name``'s role in ``project``; ``False`` if it had none."""
        self._require_write("delete_membership")
        t = memberships
        result = self._conn.execute(delete(t).where(t.c.project == project, t.c.name == name))
        return bool(result.rowcount)

    def memberships_of(self, name: str) -> dict[str, Role]:
        """Every project where ``name`` has a role, with that role."""
        t = memberships
        stmt = select(t.c.project, t.c.role).where(t.c.name == name)
        return {row.project: Role(row.role) for row in self._conn.execute(stmt)}

    def list_memberships(self, project: str) -> list[Membership]:
        """The memberships of ``project``, by name."""
        t = memberships
        stmt = select(t).where(t.c.project == project).order_by(t.c.name)
        return [_membership(row) for row in self._conn.execute(stmt)]

    # sessions -----------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        self._require_write("add_session")
        self._insert(
            ui_sessions.insert().values(
                key=session.key,
                name=session.name,
                created_at=utc(session.created_at),
                last_seen_at=utc(session.last_seen_at),
                expires_at=utc(session.expires_at),
                revoked_at=None if session.revoked_at is None else utc(session.revoked_at),
            ),
            conflict="a session with this key exists already",
        )

    def get_session(self, key: str) -> SessionRecord | None:
        row = self._conn.execute(select(ui_sessions).where(ui_sessions.c.key == key)).first()
        return None if row is None else _session(row)

    def touch_session(self, key: str, at: datetime) -> None:
        """Record activity on session ``key`` at ``at``."""
        self._require_write("touch_session")
        t = ui_sessions
        self._conn.execute(update(t).where(t.c.key == key).values(last_seen_at=utc(at)))

    def revoke_session(self, key: str, at: datetime) -> bool:
        """Revoke session ``key``; ``False`` if unknown or revoked already."""
        self._require_write("revoke_session")
        t = ui_sessions
        stmt = update(t).where(t.c.key == key, t.c.revoked_at.is_(None)).values(revoked_at=utc(at))
        return bool(self._conn.execute(stmt).rowcount)

    def revoke_sessions_of(self, name: str, at: datetime) -> int:
        """Revoke every live session of ``name``; how many were revoked."""
        self._require_write("revoke_sessions_of")
        t = ui_sessions
        stmt = (
            update(t).where(t.c.name == name, t.c.revoked_at.is_(None)).values(revoked_at=utc(at))
        )
        return max(int(self._conn.execute(stmt).rowcount or 0), 0)

    def delete_sessions_before(self, at: datetime) -> int:
        """Delete sessions that expired or were revoked before ``at``; how many."""
        self._require_write("delete_sessions_before")
        t = ui_sessions
        stmt = delete(t).where(or_(t.c.expires_at < utc(at), t.c.revoked_at < utc(at)))
        return max(int(self._conn.execute(stmt).rowcount or 0), 0)
