"""A project's governance settings: which labels are protected, and whether four-eyes is on.

Protected labels need the ``releaser`` role to move, remove, roll back or release. With
four-eyes on, a project-scoped key's move or release of a protected label opens a change
request instead (``change_requests``); the instance admin key is break-glass (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from promptstage.domain import names
from promptstage.domain.governance import MAX_PROTECTED, ProjectSettings
from promptstage.errors import InvalidInputError, NotFoundError

from .context import Context, change

BREAK_GLASS = "break_glass"
ROLLBACK = "rollback"


def get_settings(ctx: Context, project: str) -> ProjectSettings:
    """The project's governance settings (one primary-key read).

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        found = uow.project_settings(project)
    if found is None:
        raise NotFoundError(f"project {project!r} does not exist", field="project")
    return found


def parse_settings(protected_labels: Any, four_eyes: Any) -> ProjectSettings:
    """Validate the body of ``PUT .../settings``.

    Raises:
        InvalidInputError: naming ``protected_labels[i]`` or ``four_eyes``.
    """
    if not isinstance(protected_labels, list) or len(protected_labels) > MAX_PROTECTED:
        raise InvalidInputError(
            f'protected_labels must be a list of at most {MAX_PROTECTED} label names, e.g. ["prod"]',
            field="protected_labels",
        )
    seen: list[str] = []
    for index, label in enumerate(protected_labels):
        names.label_name(label, f"protected_labels[{index}]")
        if label not in seen:
            seen.append(label)
    if not isinstance(four_eyes, bool):
        raise InvalidInputError("four_eyes must be true or false", field="four_eyes")
    return ProjectSettings(tuple(seen), four_eyes)


def update_settings(
    ctx: Context, actor: str, project: str, settings: ProjectSettings
) -> ProjectSettings:
    """Replace the project's governance settings; audited as ``project.settings``."""
    with change(ctx, project, actor) as ch:
        before = ch.uow.project_settings(project)
        ch.uow.set_project_settings(project, settings)
        ch.record(
            "project.settings",
            f"project:{project}",
            before=settings_json(before) if before else None,
            after=settings_json(settings),
        )
    return settings


def settings_json(settings: ProjectSettings) -> dict[str, Any]:
    """The wire form of the settings."""
    return {"protected_labels": list(settings.protected_labels), "four_eyes": settings.four_eyes}


def bypass_for(
    settings: ProjectSettings, label: str, *, instance_key: bool, rollback: bool = False
) -> str | None:
    """Why a change of ``label`` skips four-eyes (the audit flag), or ``None`` when it does not.

    A rollback never waits (incident speed); the instance admin key is break-glass. Both are
    flagged only where four-eyes would otherwise apply.
    """
    if not settings.needs_approval(label):
        return None
    if rollback:
        return ROLLBACK
    return BREAK_GLASS if instance_key else None
