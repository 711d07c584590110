"""Writing a project's governance settings: the one function that changes them.

A change that applies at once (``governance.propose_settings``) and an approved settings change
request (``change_requests.approve``) both write here, inside the caller's transaction, with the
``project.settings`` audit row.
"""

from __future__ import annotations

from typing import Any

from promptstage.domain.events import AuditAction
from promptstage.domain.governance import ProjectSettings, settings_json

from .context import Change


def write_settings(
    ch: Change, settings: ProjectSettings, *, reason: str = "", bypass: str | None = None
) -> None:
    """Replace the project's settings; ``bypass`` flags the audit row's ``after`` as
    ``four_eyes_bypass`` (a weakening applied without a second admin: ``break_glass``)."""
    before = ch.uow.project_settings(ch.project)
    ch.uow.set_project_settings(ch.project, settings)
    after: dict[str, Any] = settings_json(settings)
    if bypass is not None:
        after["four_eyes_bypass"] = bypass
    ch.record(
        AuditAction.PROJECT_SETTINGS,
        f"project:{ch.project}",
        before=settings_json(before) if before else None,
        after=after,
        reason=reason,
    )
