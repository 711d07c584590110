"""The start page: the projects the signed-in person may open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.service import prompts

from ..session import Viewer, config
from ..templating import render

router = APIRouter()


@router.get("/")
async def home(request: Request, user: Viewer) -> Response:
    visible = None if user.instance_admin else set(user.roles)
    projects = await run_in_threadpool(prompts.list_projects, config(request).ctx, visible)
    return render(request, "home.html", projects=projects, nav="home")
