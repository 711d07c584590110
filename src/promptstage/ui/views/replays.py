"""Replays: the candidate beside the label's version on logged calls, with live progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.service import eval_actions as svc

from ..session import Viewer, Writer, acting, config
from ..templating import is_htmx, redirect, render
from .evals import _number, _q, evals_url

router = APIRouter()
REPLAYS = "/p/{project}/evals/replays"


def _form(
    request: Request,
    user: Any,
    project: str,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    found = svc.suites(config(request).ctx, acting(user, project), project)
    return render(
        request,
        "evals_replay_new.html",
        status_code=status_code,
        project=project,
        nav="evals",
        suites=[s.name for s in found],
        form={"sample": "20", "suite": "", "label": "prod", **form},
        errors=errors or {},
    )


@router.get(REPLAYS + "/new")
def new_replay(
    request: Request,
    project: str,
    user: Viewer,
    prompt: Annotated[str, Query(max_length=129)] = "",
    candidate: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _form(request, user, project, {"prompt": prompt, "candidate": candidate})


@router.post(REPLAYS)
async def start_replay(request: Request, project: str, user: Writer) -> Response:
    raw = await request.form()
    form = {k: str(v)[:200] for k, v in raw.items() if isinstance(v, str) and k != "csrf"}
    try:
        candidate = _number(form.get("candidate", ""), "candidate_version")
        sample_text = form.get("sample", "").strip()
        if not sample_text.isdigit():
            raise InvalidInputError("sample must be a number of logged calls", field="sample")
        replay_id = await run_in_threadpool(
            svc.start_replay,
            config(request).ctx,
            acting(user, project),
            project,
            prompt=form.get("prompt", ""),
            candidate_version=candidate,
            sample=int(sample_text),
            suite=form.get("suite") or None,
            label=form.get("label") or "prod",
        )
    except (InvalidInputError, NotFoundError, ConflictError) as exc:
        key = {"candidate_version": "candidate"}.get(exc.field or "", exc.field or "form")
        return await run_in_threadpool(
            _form, request, user, project, form, {key: exc.message}, exc.status_code
        )
    return redirect(request, evals_url(project, "replays", _q(replay_id)), notice="Replay queued.")


@router.get(REPLAYS + "/{replay_id}")
def replay_page(request: Request, project: str, replay_id: str, user: Viewer) -> Response:
    report = svc.replay(config(request).ctx, acting(user, project), project, replay_id)
    live = report["status"] == "running"
    if is_htmx(request):
        return render(
            request,
            "_evals_replay_body.html",
            status_code=200 if live else 286,
            project=project,
            r=report,
            live=live,
        )
    return render(request, "evals_replay.html", project=project, nav="evals", r=report, live=live)
