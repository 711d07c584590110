"""The dependency catalog page: every entry with what uses it, the drift counted per label,
and the models retiring soon (docs/dependencies.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from promptstage.domain.models import Role
from promptstage.service import access, dep_bump, deps, deps_drift

from ..session import Viewer, acting, config
from ..templating import render

router = APIRouter()


@router.get("/p/{project}/deps")
def deps_page(request: Request, project: str, user: Viewer) -> Response:
    access.check(acting(user, project), project, Role.editor)
    ctx = config(request).ctx
    return render(
        request,
        "deps.html",
        project=project,
        nav="deps",
        entries=deps.catalog_with_impact(ctx, project),
        drift=deps_drift.project_drift(ctx, project),
        deprecations=dep_bump.deprecations(ctx, project, 90),
    )
