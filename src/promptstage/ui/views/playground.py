"""The playground: render a version with sample variables and call its pinned model (or an
override) through the eval runner's provider clients (``service/playground.py``).

The provider factory comes from ``UiConfig.eval_providers`` (built from the settings by
``server.create_app``); API keys stay in the environment and never reach a page or a log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain.models import MAX_VERSION
from promptstage.errors import InvalidInputError, NotFoundError
from promptstage.service import playground, prompts

from ..session import Viewer, Writer, acting, config
from ..templating import render
from .evals import _number

router = APIRouter()
PLAYGROUND = "/p/{project}/prompts/{name}/playground"


def _page(
    request: Request,
    user: Any,
    project: str,
    name: str,
    number: int | None,
    form: dict[str, str],
    *,
    result: playground.TryResult | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = config(request).ctx
    acting(user, project)
    prompt, _ = prompts.get_prompt(ctx, project, name)
    version = prompts.get_version(ctx, project, name, number or prompt.latest_version)
    return render(
        request,
        "playground.html",
        status_code=status_code,
        project=project,
        nav="overview",
        name=name,
        version=version,
        form=form,
        result=result,
        errors=errors or {},
    )


@router.get(PLAYGROUND)
def playground_page(
    request: Request,
    project: str,
    name: str,
    user: Viewer,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> Response:
    return _page(request, user, project, name, version, {})


@router.post(PLAYGROUND)
async def try_it(request: Request, project: str, name: str, user: Writer) -> Response:
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if isinstance(v, str) and k != "csrf"}
    ui = config(request)
    who = acting(user, project)
    samples = {k[7:]: v for k, v in form.items() if k.startswith("sample.")}
    model = {k: form.get(f"model_{k}", "").strip() for k in ("provider", "name", "version")}
    number = None
    try:
        number = _number(form.get("version", ""), "version")
        assert number is not None
        result = await playground.try_version(
            ui.ctx,
            who,
            project,
            name,
            number,
            samples,
            providers=ui.eval_providers,
            model=model if any(model.values()) else None,
            max_rendered_bytes=ui.max_rendered_bytes,
        )
    except (InvalidInputError, NotFoundError) as exc:
        return await run_in_threadpool(
            _page,
            request,
            user,
            project,
            name,
            number,
            form,
            errors={exc.field or "form": exc.message},
            status_code=exc.status_code,
        )
    return await run_in_threadpool(_page, request, user, project, name, number, form, result=result)
