"""People who sign in to the admin UI: their password and their role in the project (admin).

No answer ever holds a password or its hash.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from promptstage.api.deps import Admin, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import PasswordIn, UserIn, UserRoleIn
from promptstage.domain.models import iso_utc
from promptstage.service import users as users_svc

router = APIRouter(tags=["users"], dependencies=[Depends(check_params)])


def user_json(project: str, user: users_svc.UserInfo) -> dict[str, Any]:
    """The wire form of a user of ``project``."""
    return {
        "project": project,
        "name": user.name,
        "role": user.role.value,
        "has_password": user.has_password,
        "created_at": iso_utc(user.created_at),
    }


@router.post(
    "/api/v1/projects/{project}/users",
    status_code=201,
    summary="Give a person a role in the project, and a password if she has none",
)
def create_user(project: str, body: UserIn, who: Admin, request: Request) -> dict[str, Any]:
    user = users_svc.create_user(
        ctx(request), who.actor, project, body.name, body.password, body.role
    )
    return user_json(project, user)


@router.get("/api/v1/projects/{project}/users", summary="People who may sign in to the project")
def list_users(project: str, who: Admin, request: Request) -> dict[str, Any]:
    return {
        "items": [user_json(project, u) for u in users_svc.list_users(ctx(request), project)],
        "next_cursor": None,
    }


@router.put("/api/v1/projects/{project}/users/{name}/role", summary="Change a user's role")
def grant(
    project: str, name: str, body: UserRoleIn, who: Admin, request: Request
) -> dict[str, Any]:
    user = users_svc.grant(ctx(request), who.actor, project, name, body.role)
    return user_json(project, user)


@router.delete(
    "/api/v1/projects/{project}/users/{name}",
    summary="Take away a user's role in the project (her sessions lose it at once)",
)
def revoke(project: str, name: str, who: Admin, request: Request) -> dict[str, Any]:
    users_svc.revoke(ctx(request), who.actor, project, name)
    return {"project": project, "name": name, "role": None}


@router.put(
    "/api/v1/projects/{project}/users/{name}/password",
    summary="Set a user's password and sign her out everywhere",
)
def set_password(
    project: str, name: str, body: PasswordIn, who: Admin, request: Request
) -> dict[str, Any]:
    # A project admin key may only reset a user of this project and no other one.
    scope = None if who.project is None else project
    users_svc.set_password(ctx(request), who.actor, name, body.password, scope=scope)
    return {"project": project, "name": name, "password_changed": True}
