"""The start page: the projects the signed-in person may open, with their prompt and agent
counts (an agent is the part of a prompt's name before its first dot)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.service import overview

from ..session import Viewer, config
from ..templating import render

router = APIRouter()


@router.get("/")
async def home(request: Request, user: Viewer) -> Response:
    visible = None if user.instance_admin else set(user.roles)
    projects = await run_in_threadpool(overview.project_summaries, config(request).ctx, visible)
    return render(request, "home.html", projects=projects, nav="home")
