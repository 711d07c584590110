"""Project governance settings and change requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from promptstage.domain.governance import ChangeRequest, ProjectSettings

from .tables import change_requests, projects
from .uow_base import UnitOfWorkBase, utc


def _to_request(row: Any) -> ChangeRequest:
    return ChangeRequest(
        id=row.id,
        project=row.project,
        kind=row.kind,
        prompt=row.prompt,
        label=row.label,
        version=int(row.version),
        digest=row.digest,
        expected_version=row.expected_version,
        params=dict(row.params),
        reason=row.reason,
        requested_by=row.requested_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
    )


def _eval_policy(settings: ProjectSettings) -> dict[str, Any] | None:
    """The ``eval_policy`` column of ``settings``: only the policies that were set."""
    out: dict[str, Any] = {}
    if settings.gate_policy is not None:
        out["gate"] = settings.gate_policy
    if settings.static_policy is not None:
        out["static"] = settings.static_policy
    return out or None


class GovernanceRepository(UnitOfWorkBase):
    """Protected labels, four-eyes, and change requests."""

    def project_settings(self, project: str) -> ProjectSettings | None:
        """The project's governance settings, or ``None`` when the project does not exist."""
        stmt = select(
            projects.c.protected_labels,
            projects.c.four_eyes,
            projects.c.max_key_lifetime_days,
            projects.c.eval_policy,
        ).where(projects.c.name == project)
        row = self._conn.execute(stmt).first()
        if row is None:
            return None
        evals = row.eval_policy or {}
        return ProjectSettings(
            tuple(row.protected_labels),
            bool(row.four_eyes),
            row.max_key_lifetime_days,
            evals.get("gate"),
            evals.get("static"),
        )

    def set_project_settings(self, project: str, settings: ProjectSettings) -> None:
        """Replace the project's governance settings."""
        self._require_write("set_project_settings")
        self._conn.execute(
            update(projects)
            .where(projects.c.name == project)
            .values(
                protected_labels=list(settings.protected_labels),
                four_eyes=settings.four_eyes,
                max_key_lifetime_days=settings.max_key_lifetime_days,
                eval_policy=_eval_policy(settings),
            )
        )

    def add_change_request(self, request: ChangeRequest) -> None:
        """Insert a change request."""
        self._require_write("add_change_request")
        self._insert(
            change_requests.insert().values(
                id=request.id,
                project=request.project,
                kind=request.kind,
                prompt=request.prompt,
                label=request.label,
                version=request.version,
                digest=request.digest,
                expected_version=request.expected_version,
                params=request.params,
                reason=request.reason,
                requested_by=request.requested_by,
                created_at=utc(request.created_at),
                expires_at=utc(request.expires_at),
                state=request.state,
                decided_by=request.decided_by,
                decided_at=utc(request.decided_at) if request.decided_at else None,
                decision_reason=request.decision_reason,
            ),
            conflict=f"change request {request.id!r} already exists",
        )

    def get_change_request(self, project: str, request_id: str) -> ChangeRequest | None:
        """The change request ``request_id`` of ``project``, or ``None``."""
        stmt = select(change_requests).where(
            change_requests.c.project == project, change_requests.c.id == request_id
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else _to_request(row)

    def decide_change_request(
        self, project: str, request_id: str, state: str, by: str, at: datetime, reason: str
    ) -> None:
        """Record the decision on an open change request."""
        self._require_write("decide_change_request")
        self._conn.execute(
            update(change_requests)
            .where(change_requests.c.project == project, change_requests.c.id == request_id)
            .values(state=state, decided_by=by, decided_at=utc(at), decision_reason=reason)
        )

    def list_change_requests(
        self,
        project: str,
        *,
        states: tuple[str, ...] | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ChangeRequest]:
        """Change requests newest first, with a stored state in ``states`` (``None``: any)."""
        stmt = select(change_requests).where(change_requests.c.project == project)
        if states is not None:
            stmt = stmt.where(change_requests.c.state.in_(states))
        if before is not None:
            at, rid = before
            stmt = stmt.where(
                (change_requests.c.created_at < utc(at))
                | ((change_requests.c.created_at == utc(at)) & (change_requests.c.id < rid))
            )
        stmt = stmt.order_by(
            change_requests.c.created_at.desc(), change_requests.c.id.desc()
        ).limit(limit)
        return [_to_request(row) for row in self._conn.execute(stmt)]

    def change_requests_decided_at(self, project: str, at: datetime) -> list[ChangeRequest]:
        """Approved requests decided at exactly ``at`` (the changes they applied share it)."""
        stmt = select(change_requests).where(
            change_requests.c.project == project,
            change_requests.c.state == "approved",
            change_requests.c.decided_at == utc(at),
        )
        return [_to_request(row) for row in self._conn.execute(stmt)]
