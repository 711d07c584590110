"""Authentication and the role check every route declares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Role
from promptstage.errors import PermissionDeniedError
from promptstage.service import governance
from promptstage.service.context import Context
from promptstage.service.keys import Authenticator, Principal


def bearer_token(header: str | None) -> str | None:
    """The key in an ``Authorization`` header: ``Bearer <key>``, or the bare key."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else header


async def authenticate(authenticator: Authenticator, token: str | None) -> Principal:
    """A recently verified key from memory, on the event loop; otherwise (a database read, or
    an error to explain) through the thread pool."""
    found = authenticator.authenticate_cached(token)
    if found is None:
        found = await run_in_threadpool(authenticator.authenticate, token)
    return found


async def principal(request: Request) -> Principal:
    """The caller, authenticated from ``Authorization: Bearer <key>``.

    A key verified recently is answered from memory on the event loop; only a cache miss goes
    to the database, in the thread pool (this keeps the runtime hot path off the pool).
    """
    found = await authenticate(
        request.app.state.authenticator, bearer_token(request.headers.get("authorization"))
    )
    request.state.principal = found
    return found


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


def role(needed: Role) -> Callable[[Request, str], Awaitable[Principal]]:
    """A dependency: the caller must hold ``needed`` on the path's ``project``."""

    async def dependency(request: Request, project: str) -> Principal:
        who = await principal(request)
        check(who, project, needed)
        return who

    dependency.__name__ = f"requires_{needed.value}"
    return dependency


def project_settings(request: Request, project: str) -> ProjectSettings:
    """The project's governance settings, read once per request (a primary-key lookup).

    Raises:
        NotFoundError: the project does not exist.
    """
    cache: dict[str, ProjectSettings] = getattr(request.state, "governance", None) or {}
    if project not in cache:
        ctx: Context = request.app.state.ctx
        cache[project] = governance.get_settings(ctx, project)
        request.state.governance = cache
    return cache[project]


def label_role(settings: ProjectSettings, label: str) -> Role:
    """The project's protected labels (default ``prod``) need a releaser; others an editor."""
    return Role.releaser if settings.protects(label) else Role.editor


def protected_check(request: Request, who: Principal, project: str, label: str) -> ProjectSettings:
    """Check ``who`` may change ``label`` of ``project``; returns the project's settings.

    The project check comes first, so a key of another project gets 403 before anything of
    this project (even whether it exists) is read.
    """
    check(who, project, Role.editor)
    settings = project_settings(request, project)
    check(who, project, label_role(settings, label))
    return settings
