"""Projects and API keys (the audit trail has its own router, ``audit.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from promptstage.api.deps import Admin, Caller, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import KeyIn, PrincipalIn, ProjectIn, RotateIn
from promptstage.domain.models import Role
from promptstage.domain.principals import principal_json
from promptstage.domain.wire import key_json, project_json
from promptstage.service import keys as keys_svc
from promptstage.service import principals as principals_svc
from promptstage.service import prompts as prompts_svc
from promptstage.service.access import check
from promptstage.service.key_lifetime import parse_expiry

router = APIRouter(tags=["admin"], dependencies=[Depends(check_params)])


@router.post("/api/v1/projects", status_code=201, summary="Create a project (instance admin)")
def create_project(body: ProjectIn, who: Caller, request: Request) -> dict[str, Any]:
    check(who, None, Role.admin)
    return project_json(
        prompts_svc.create_project(ctx(request), who.actor, body.name, body.description)
    )


@router.get("/api/v1/projects", summary="Projects this key can see")
def list_projects(who: Caller, request: Request) -> dict[str, Any]:
    visible = None if who.project is None else {who.project}
    projects = prompts_svc.list_projects(ctx(request), visible)
    return {"items": [project_json(p) for p in projects], "next_cursor": None}


@router.post(
    "/api/v1/projects/{project}/keys", status_code=201, summary="Create an API key (shown once)"
)
def create_key(project: str, body: KeyIn, who: Admin, request: Request) -> dict[str, Any]:
    key, token = keys_svc.create_key(
        ctx(request),
        who.actor,
        project,
        body.name,
        body.role,
        principal=body.principal,
        expires_at=parse_expiry(body.expires_at),
    )
    return {**key_json(key), "token": token}


@router.post(
    "/api/v1/projects/{project}/keys/{prefix}/rotate",
    status_code=201,
    summary="Issue a successor key (shown once); the old one stops after a grace period",
)
def rotate_key(
    project: str, prefix: str, who: Admin, request: Request, body: RotateIn | None = None
) -> dict[str, Any]:
    wanted = body or RotateIn()
    key, token, old = keys_svc.rotate_key(
        ctx(request),
        who.actor,
        project,
        prefix,
        grace_seconds=wanted.grace_seconds,
        expires_at=parse_expiry(wanted.expires_at),
        authenticator=request.app.state.authenticator,
    )
    return {**key_json(key), "token": token, "previous": key_json(old)}


@router.post(
    "/api/v1/projects/{project}/principals",
    status_code=201,
    summary="Create a principal: a person or a service account keys are issued to",
)
def create_principal(
    project: str, body: PrincipalIn, who: Admin, request: Request
) -> dict[str, Any]:
    return principal_json(
        principals_svc.create_principal(ctx(request), who.actor, project, body.name, body.kind)
    )


@router.get("/api/v1/projects/{project}/principals", summary="Principals of the project")
def list_principals(project: str, who: Admin, request: Request) -> dict[str, Any]:
    return {
        "items": [principal_json(p) for p in principals_svc.list_principals(ctx(request), project)],
        "next_cursor": None,
    }


@router.get(
    "/api/v1/projects/{project}/keys", summary="API keys of the project (never their secrets)"
)
def list_keys(project: str, who: Admin, request: Request) -> dict[str, Any]:
    return {
        "items": [key_json(k) for k in keys_svc.list_keys(ctx(request), project)],
        "next_cursor": None,
    }


@router.delete("/api/v1/projects/{project}/keys/{prefix}", summary="Revoke an API key")
def revoke_key(project: str, prefix: str, who: Admin, request: Request) -> dict[str, Any]:
    key = keys_svc.revoke_key(
        ctx(request), who.actor, project, prefix, request.app.state.authenticator
    )
    return key_json(key)
