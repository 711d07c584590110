"""Who may do what: the role checks that every front end applies the same way.

The API's routes and the admin UI call these with the caller's :class:`Principal`; the checks
that need the project's settings, and the policy that follows them (apply now, or open a change
request), are in ``governance``.
"""

from __future__ import annotations

from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Role
from promptstage.errors import PermissionDeniedError

from .keys import Principal


def check(who: Principal, project: str | None, needed: Role) -> None:
    """Raise ``PermissionDeniedError`` unless ``who`` may act as ``needed`` on ``project``."""
    if who.project is not None and project is not None and who.project != project:
        raise PermissionDeniedError(
            f"this key belongs to project {who.project!r}, not {project!r}", field="project"
        )
    if who.project is not None and project is None:
        raise PermissionDeniedError(
            "this action needs an instance admin key", field="Authorization"
        )
    if not who.role.allows(needed):
        raise PermissionDeniedError(
            f"this action needs the {needed.value!r} role; this key has {who.role.value!r}",
            field="Authorization",
            needed_role=needed.value,
        )


def label_role(settings: ProjectSettings, label: str) -> Role:
    """The project's protected labels (default ``prod``) need a releaser; others an editor."""
    return Role.releaser if settings.protects(label) else Role.editor
