"""The ``WHERE`` conditions of a filtered audit listing (``AuditFilter``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal, or_, select

from promptstage.domain.audit import AuditFilter

from .tables import audit, change_requests, releases
from .uow_base import utc

_ESCAPE = "\\"


def _like_prefix(text: str) -> str:
    """``text`` as the literal start of a ``LIKE`` pattern (its wildcards escaped)."""
    escaped = text.replace(_ESCAPE, _ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")
    return escaped


def _about_prompt(project: str, prompt: str) -> ColumnElement[bool]:
    """Rows whose target is the prompt, one of its versions or labels, or one of its releases
    and change requests (those targets name an id: the id is looked up)."""
    start = _like_prefix(prompt)
    release_targets = select(literal("release:") + releases.c.id).where(
        releases.c.project == project, releases.c.prompt == prompt
    )
    request_targets = select(literal("change_request:") + change_requests.c.id).where(
        change_requests.c.project == project, change_requests.c.prompt == prompt
    )
    return or_(
        audit.c.target == f"prompt:{prompt}",
        audit.c.target.like(f"prompt:{start}@%", escape=_ESCAPE),
        audit.c.target.like(f"label:{start}/%", escape=_ESCAPE),
        audit.c.target.in_(release_targets),
        audit.c.target.in_(request_targets),
    )


def audit_conditions(project: str, where: AuditFilter) -> list[Any]:
    """The conditions selecting the rows ``where`` asks for."""
    found: list[Any] = []
    if where.actor is not None:
        found.append(
            or_(
                audit.c.actor == where.actor,
                audit.c.actor.like(f"{_like_prefix(where.actor)} (%", escape=_ESCAPE),
            )
        )
    if where.action is not None:
        found.append(audit.c.action == where.action)
    if where.prompt is not None:
        found.append(_about_prompt(project, where.prompt))
    if where.since is not None:
        found.append(audit.c.at >= utc(where.since))
    if where.until is not None:
        found.append(audit.c.at < utc(where.until))
    return found
