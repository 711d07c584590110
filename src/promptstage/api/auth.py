"""Authentication and the role check every route declares."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from promptstage.domain.models import Role
from promptstage.errors import PermissionDeniedError
from promptstage.service.keys import Authenticator, Principal

PROTECTED_LABELS = frozenset({"prod"})


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else header


def principal(request: Request) -> Principal:
    """The caller, authenticated from ``Authorization: Bearer <key>``."""
    authenticator: Authenticator = request.app.state.authenticator
    found = authenticator.authenticate(_token(request))
    request.state.principal = found
    return found


def check(who: Principal, project: str | None, needed: Role) -> None:
    """Raise ``PermissionDeniedError`` unless ``who`` may act as ``needed`` on ``project``."""
    if who.project is not None and project is not None and who.project != project:
        raise PermissionDeniedError(
            f"this key belongs to project {who.project!r}, not {project!r}", field="project"
        )
    if who.project is not None and project is None:
        raise PermissionDeniedError("this action needs an instance admin key", field="Authorization")
    if not who.role.allows(needed):
        raise PermissionDeniedError(
            f"this action needs the {needed.value!r} role; this key has {who.role.value!r}",
            field="Authorization", needed_role=needed.value,
        )


def role(needed: Role) -> Callable[[Request, str], Principal]:
    """A dependency: the caller must hold ``needed`` on the path's ``project``."""

    def dependency(request: Request, project: str) -> Principal:
        who = principal(request)
        check(who, project, needed)
        return who

    dependency.__name__ = f"requires_{needed.value}"
    return dependency


def label_role(label: str) -> Role:
    """Protected labels (``prod``) need a releaser; others an editor."""
    return Role.releaser if label in PROTECTED_LABELS else Role.editor
