"""What is live where: a project's prompts by labels."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from promptstage.service import overview as svc

from ..session import Viewer, acting, config
from ..templating import render

router = APIRouter()

Text = Annotated[str | None, Query(max_length=200)]


def overview_url(project: str, filters: svc.Filters, cursor: str | None = None) -> str:
    """The overview's shareable URL with these filters (and page)."""
    params = {"q": filters.q, "tag": filters.tag, "label": filters.label, "cursor": cursor or ""}
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/ui/p/{quote(project, safe='')}" + (f"?{query}" if query else "")


@router.get("/p/{project}")
def overview(
    request: Request,
    project: str,
    user: Viewer,
    q: Text = None,
    tag: Text = None,
    label: Text = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    filters = svc.Filters.parse(q, tag, label)
    data = svc.overview(config(request).ctx, acting(user, project), project, filters, cursor=cursor)
    return render(
        request,
        "overview.html",
        project=project,
        nav="overview",
        page=data,
        filtered=bool(filters.q or filters.tag or filters.label),
        first_url=overview_url(project, filters) if cursor else None,
        next_url=overview_url(project, filters, data.next_cursor) if data.next_cursor else None,
    )
