"""A prompt: its versions, dependency snapshots, label history, and the diff of two versions."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from promptstage.domain.models import MAX_VERSION
from promptstage.service import prompt_page as svc

from ..session import Viewer, acting, config
from ..templating import render

router = APIRouter()

Number = Annotated[int, Query(ge=1, le=MAX_VERSION)]


def sdk_snippet(base_url: str, project: str, name: str, label: str) -> str:
    """The lines that fetch this prompt with the Python SDK (``docs/sdk.md``)."""
    return (
        "import os\n"
        "from promptstage import Client\n\n"
        f"ps = Client({json.dumps(base_url)}, project={json.dumps(project)}, "
        'api_key=os.environ["PROMPTSTAGE_API_KEY"])\n'
        f"p = ps.get({json.dumps(name)}, label={json.dumps(label)})\n"
        "messages = p.render(**variables)  # p.version, p.digest, p.config.model.name"
    )


def js(value: object, indent: int | None = None) -> str:
    """A JSON value as text for a page (escaped by the template like any other text)."""
    return json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False, default=str)


@router.get("/p/{project}/prompts/{name}")
def prompt(
    request: Request,
    project: str,
    name: str,
    user: Viewer,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    data = svc.prompt_page(
        config(request).ctx,
        acting(user, project),
        project,
        name,
        version=version,
        cursor=cursor,
    )
    labels = [state.label for state in data.labels]
    label = "prod" if "prod" in labels else (labels[0] if labels else "latest")
    return render(
        request,
        "prompt.html",
        project=project,
        nav="overview",
        page=data,
        default_label=label,
        js=js,
        snippet=sdk_snippet(
            str(request.base_url).rstrip("/").removesuffix("/ui"), project, name, label
        ),
    )


@router.get("/p/{project}/prompts/{name}/diff")
def diff(request: Request, project: str, name: str, user: Viewer, a: Number, b: Number) -> Response:
    data = svc.version_diff(config(request).ctx, acting(user, project), project, name, a, b)
    return render(request, "prompt_diff.html", project=project, nav="overview", d=data, js=js)
