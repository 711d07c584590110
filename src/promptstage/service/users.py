"""Users of the admin UI: people who sign in with a password, and their role per project.

A user is a person principal (``service/principals.py``) with a password: one argon2id hash per
name for the whole instance (the name four-eyes compares), and a role per project (a
membership). ``runtime`` is a role for SDK keys only: nobody signs in with it. Every change is
audited in the project it concerns; no audit row ever holds a password or its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptstage.domain.events import AuditAction
from promptstage.domain.models import Role
from promptstage.domain.principals import PrincipalKind, PrincipalRecord, principal_json
from promptstage.domain.users import Membership, UserCredential
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

from . import passwords
from .context import Change, Context, change
from .principals import principal_name
from .prompts import require_project

UI_ROLES = (Role.editor, Role.releaser, Role.admin)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user of a project as listed: never the password or its hash.

    ``created_at`` is when the user was given a role in this project.
    """

    name: str
    role: Role
    has_password: bool
    created_at: datetime


def ui_role(value: Any) -> Role:
    """Validate a role a person may sign in with: editor, releaser or admin.

    Raises:
        InvalidInputError: naming ``role``.
    """
    allowed = [r.value for r in UI_ROLES]
    if value == Role.runtime.value:
        raise InvalidInputError(
            f"role 'runtime' cannot sign in to the UI (it is for SDK keys); choose one of "
            f"{allowed}",
            field="role",
        )
    try:
        return Role(value)
    except ValueError:
        raise InvalidInputError(
            f"role must be one of {allowed}, got {value!r}", field="role"
        ) from None


def _person(ch: Change, name: str) -> None:
    """Make sure ``name`` is a person principal of the change's project (created if missing).

    Raises:
        ConflictError: naming ``name``: the principal is a service account.
    """
    found = ch.uow.get_principal(ch.project, name)
    if found is None:
        created = PrincipalRecord(ch.project, name, PrincipalKind.person, ch.at, ch.actor)
        ch.uow.add_principal(created)
        ch.record(
            AuditAction.PRINCIPAL_CREATE,
            f"principal:{name}",
            before=None,
            after=principal_json(created),
        )
    elif found.kind is not PrincipalKind.person:
        raise ConflictError(
            f"{name} is a service account of project {ch.project!r}: only a person signs in to "
            "the UI; pick another name",
            field="name",
        )


def _audit_user(ch: Change, action: AuditAction, name: str, before: Any, after: Any) -> None:
    ch.record(action, f"user:{name}", before=before, after=after)


def create_user(
    ctx: Context, actor: str, project: str, name: Any, password: str | None, role: Any
) -> UserInfo:
    """Give the person ``name`` a role in ``project`` (and a password if she has none).

    Creates the person principal in the project when missing. A user's password is one for the
    whole instance: when she has one already (she uses another project), ``password`` must be
    ``None``.

    Raises:
        InvalidInputError: naming ``name``, ``role`` or ``password`` (policy, or missing for a
            user without a password).
        ConflictError: naming ``password`` (she has one: use ``promptstage user passwd``) or
            ``name`` (already a user of the project, or a service account).
        NotFoundError: the project does not exist.
    """
    valid = principal_name(name)
    user_role = ui_role(role)
    hashed = None
    if password is not None:
        hashed = passwords.hash_password(passwords.check_password(valid, password))
    with change(ctx, project, actor) as ch:
        if ch.uow.get_membership(project, valid) is not None:
            raise ConflictError(
                f"{valid} is already a user of project {project!r}; change the role with "
                "`promptstage user grant`",
                field="name",
            )
        credential = ch.uow.get_credential(valid)
        if credential is not None and hashed is not None:
            raise ConflictError(
                f"{valid} already has a password (one for every project); leave the password out "
                f"to add the user here, or change it with `promptstage user passwd {valid}`",
                field="password",
            )
        if credential is None and hashed is None:
            raise InvalidInputError(
                f"{valid} has no password yet: give one (password, at least "
                f"{passwords.MIN_LENGTH} characters)",
                field="password",
            )
        _person(ch, valid)
        if credential is None and hashed is not None:
            ch.uow.set_credential(UserCredential(valid, hashed, ch.at, actor, ch.at))
        ch.uow.set_membership(Membership(project, valid, user_role, ch.at, actor))
        after = {"name": valid, "role": user_role.value, "password_set": credential is None}
        _audit_user(ch, AuditAction.USER_CREATE, valid, None, after)
    return UserInfo(valid, user_role, True, ch.at)


def set_password(
    ctx: Context, actor: str, name: str, password: str, *, scope: str | None = None
) -> None:
    """Set the password of user ``name`` and sign her out everywhere.

    Audited in every project where she has a role.

    Args:
        scope: the one project the caller administers (a project admin key); ``None`` for the
            instance admin, or a user changing her own password. A project admin may only
            reset the password of a user who has a role in that project and no other.

    Raises:
        InvalidInputError: naming ``password`` (policy).
        NotFoundError: naming ``name``: no such user.
        PermissionDeniedError: naming ``name``: she also belongs to a project outside ``scope``.
    """
    hashed = passwords.hash_password(passwords.check_password(name, password))
    with ctx.store.unit_of_work(write=True) as uow:
        credential = uow.get_credential(name)
        projects = sorted(uow.memberships_of(name))
        if credential is None or not projects or (scope is not None and scope not in projects):
            where = "" if scope is None else f" in project {scope!r}"
            raise NotFoundError(
                f"there is no user {name!r}{where}; create one with `promptstage user create`",
                field="name",
            )
        if scope is not None and projects != [scope]:
            others = [p for p in projects if p != scope]
            raise PermissionDeniedError(
                f"{name} also has a role in {others}: only the instance admin may change her "
                "password",
                field="name",
            )
        for project in projects:  # sorted: concurrent multi-project writers cannot deadlock
            uow.lock_project(project)
        at = ctx.clock()
        uow.set_credential(UserCredential(name, hashed, credential.created_at, actor, at))
        revoked = uow.revoke_sessions_of(name, at)
        for project in projects:
            after = {
                "name": name,
                "password_changed_at": at.isoformat(),
                "sessions_revoked": revoked,
            }
            _audit_user(
                Change(ctx, uow, project, actor), AuditAction.USER_PASSWORD, name, None, after
            )


def grant(ctx: Context, actor: str, project: str, name: str, role: Any) -> UserInfo:
    """Give the existing user ``name`` the role ``role`` in ``project`` (replacing hers).

    Raises:
        InvalidInputError: naming ``role``.
        NotFoundError: naming ``name`` (no such user: create her) or the project.
        ConflictError: naming ``name``: a service account has that name in the project.
    """
    user_role = ui_role(role)
    with change(ctx, project, actor) as ch:
        credential = ch.uow.get_credential(name)
        if credential is None:
            raise NotFoundError(
                f"there is no user {name!r}; create one with `promptstage user create {name} "
                f"--project {project} --role {user_role.value}`",
                field="name",
            )
        before = ch.uow.get_membership(project, name)
        _person(ch, name)
        created = ch.at if before is None else before.created_at
        ch.uow.set_membership(Membership(project, name, user_role, created, actor))
        _audit_user(
            ch,
            AuditAction.USER_ROLE,
            name,
            None if before is None else {"name": name, "role": before.role.value},
            {"name": name, "role": user_role.value},
        )
    return UserInfo(name, user_role, True, created)


def revoke(ctx: Context, actor: str, project: str, name: str) -> None:
    """Take away ``name``'s role in ``project``.

    Her sessions lose the project at once (roles are read on every request); a user left with
    no role anywhere is signed out.

    Raises:
        NotFoundError: naming ``name``: she has no role in the project.
    """
    with change(ctx, project, actor) as ch:
        before = ch.uow.get_membership(project, name)
        if before is None or not ch.uow.delete_membership(project, name):
            raise NotFoundError(f"{name!r} is not a user of project {project!r}", field="name")
        revoked = 0
        if not ch.uow.memberships_of(name):
            revoked = ch.uow.revoke_sessions_of(name, ch.at)
        _audit_user(
            ch,
            AuditAction.USER_REVOKE,
            name,
            {"name": name, "role": before.role.value},
            {"name": name, "role": None, "sessions_revoked": revoked},
        )


def list_users(ctx: Context, project: str) -> list[UserInfo]:
    """The users of ``project``, by name (never a password hash).

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return [
            UserInfo(m.name, m.role, uow.get_credential(m.name) is not None, m.created_at)
            for m in uow.list_memberships(project)
        ]
