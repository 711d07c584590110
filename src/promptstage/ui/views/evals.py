"""Eval suites and runs: list and push suites, start, watch (htmx polling), cancel and resume
runs, and start the runs a gated label still needs.

Every page calls ``service/eval_actions.py`` (the editor role, as the API's eval routes); a
run page polls its progress fragment every 2 s and the fragment answers 286 once the run is
final, which stops htmx polling (like the release panel).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain.eval_wire import case_json, run_json
from promptstage.domain.models import MAX_VERSION
from promptstage.errors import InvalidInputError, NotFoundError
from promptstage.service import eval_actions as svc

from ..session import Viewer, Writer, acting, config
from ..templating import is_htmx, redirect, render

router = APIRouter()
EVALS = "/p/{project}/evals"
MAX_SUITE_BYTES = 1024 * 1024


def _q(value: str) -> str:
    return quote(value, safe="")


def evals_url(project: str, *parts: str) -> str:
    return "/".join([f"/ui/p/{_q(project)}/evals", *parts])


def _number(raw: str, field: str, *, optional: bool = False) -> int | None:
    text = raw.strip()
    if not text and optional:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_VERSION:
        raise InvalidInputError(f"{field} must be a version number, e.g. 3", field=field)
    return int(text)


# suites ---------------------------------------------------------------------------------------
def _suites_page(
    request: Request, user: Any, project: str, status_code: int = 200, **values: Any
) -> Response:
    ctx = config(request).ctx
    found = svc.suites(ctx, acting(user, project), project)
    return render(
        request,
        "evals_suites.html",
        status_code=status_code,
        project=project,
        nav="evals",
        suites=found,
        **{"text": "", "format": "yaml", "error": None, "error_field": None, **values},
    )


@router.get(EVALS + "/suites")
def suites_page(request: Request, project: str, user: Viewer) -> Response:
    return _suites_page(request, user, project)


@router.post(EVALS + "/suites")
async def push_suite(
    request: Request,
    project: str,
    user: Writer,
    text: Annotated[str, Form(max_length=MAX_SUITE_BYTES)] = "",
    format: Annotated[str, Form(max_length=10)] = "yaml",
    file: UploadFile | None = None,
) -> Response:
    ctx = config(request).ctx
    who = acting(user, project)
    fmt = format
    if file is not None and file.filename:
        raw = await file.read(MAX_SUITE_BYTES + 1)
        if len(raw) > MAX_SUITE_BYTES:
            raise InvalidInputError("the suite file is larger than 1 MiB", field="file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError("the suite file must be UTF-8 text", field="file") from None
        if file.filename.endswith(".toml"):
            fmt = "toml"
    try:
        view, created = await run_in_threadpool(svc.push_suite, ctx, who, project, text, fmt)
    except InvalidInputError as exc:
        return await run_in_threadpool(
            _suites_page,
            request,
            user,
            project,
            422,
            text=text,
            format=fmt,
            error=exc.message,
            error_field=exc.field,
        )
    notice = (
        f"Suite {view.name} version {view.version} was pushed."
        if created
        else f"Suite {view.name} is unchanged: version {view.version} has that digest."
    )
    return redirect(request, evals_url(project, "suites", _q(view.name)), notice=notice)


@router.get(EVALS + "/suites/{suite:path}")
def suite_page(
    request: Request,
    project: str,
    suite: str,
    user: Viewer,
    version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> Response:
    view, versions = svc.suite(config(request).ctx, acting(user, project), project, suite, version)
    families = Counter(c.family or "(none)" for c in view.suite.cases)
    owasp = Counter(o for c in view.suite.cases for o in c.owasp)
    return render(
        request,
        "evals_suite.html",
        project=project,
        nav="evals",
        view=view,
        versions=versions,
        families=sorted(families.items()),
        owasp=sorted(owasp.items()),
    )


# runs -----------------------------------------------------------------------------------------
@router.get(EVALS + "/runs")
def runs_page(
    request: Request,
    project: str,
    user: Viewer,
    prompt: Annotated[str, Query(max_length=129)] = "",
    suite: Annotated[str, Query(max_length=129)] = "",
    version: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    found, next_cursor = svc.runs(
        config(request).ctx,
        acting(user, project),
        project,
        prompt=prompt or None,
        suite=suite or None,
        version=_number(version, "version", optional=True),
        status=status or None,
        limit=50,
        cursor=cursor,
    )
    given = (("prompt", prompt), ("suite", suite), ("version", version), ("status", status))
    filters = {k: v for k, v in given if v}
    base = evals_url(project, "runs")
    return render(
        request,
        "evals_runs.html",
        project=project,
        nav="evals",
        runs=[run_json(r) for r in found],
        filters={"prompt": prompt, "suite": suite, "version": version, "status": status},
        statuses=svc.STATUSES,
        first_url=(base + "?" + urlencode(filters)) if cursor else None,
        next_url=base + "?" + urlencode({**filters, "cursor": next_cursor})
        if next_cursor
        else None,
    )


def _run_values(request: Request, user: Any, project: str, run_id: str) -> dict[str, Any]:
    run, cases, next_cursor = svc.run(
        config(request).ctx, acting(user, project), project, run_id, limit=500
    )
    data = run_json(run)
    return {
        "run": data,
        "live": run.status.open,
        "cases": [case_json(c) for c in cases],
        "more_cases": next_cursor is not None,
        "can_cancel": run.status.open,
        "can_resume": run.status.value == "interrupted",
    }


@router.get(EVALS + "/runs/new")
def new_run_page(
    request: Request,
    project: str,
    user: Viewer,
    prompt: Annotated[str, Query(max_length=129)] = "",
    version: Annotated[str, Query(max_length=20)] = "",
    suite: Annotated[str, Query(max_length=129)] = "builtin/security",
) -> Response:
    return _new_run_form(
        request, user, project, {"prompt": prompt, "version": version, "suite": suite}
    )


def _new_run_form(
    request: Request,
    user: Any,
    project: str,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = config(request).ctx
    found = svc.suites(ctx, acting(user, project), project)
    return render(
        request,
        "evals_run_new.html",
        status_code=status_code,
        project=project,
        nav="evals",
        suites=[s.name for s in found],
        form={"model_provider": "", "model_name": "", "model_version": "", **form},
        errors=errors or {},
    )


@router.post(EVALS + "/runs")
async def start_run(request: Request, project: str, user: Writer) -> Response:
    raw = await request.form()
    form = {k: str(v)[:200] for k, v in raw.items() if isinstance(v, str) and k != "csrf"}
    who = acting(user, project)
    ctx = config(request).ctx
    model = {key: form.get(f"model_{key}", "").strip() for key in ("provider", "name", "version")}
    try:
        version = _number(form.get("version", ""), "version")
        run = await run_in_threadpool(
            svc.start_run,
            ctx,
            who,
            project,
            suite=form.get("suite", ""),
            prompt=form.get("prompt", ""),
            version=version,
            model=model if any(model.values()) else None,
        )
    except (InvalidInputError, NotFoundError) as exc:
        key = (exc.field or "form").split(".")[0]
        return await run_in_threadpool(
            _new_run_form, request, user, project, form, {key: exc.message}, exc.status_code
        )
    return redirect(request, evals_url(project, "runs", _q(run.id)), notice="The run is queued.")


@router.post(EVALS + "/runs/required")
async def start_required(
    request: Request,
    project: str,
    user: Writer,
    prompt: Annotated[str, Form(max_length=129)],
    version: Annotated[str, Form(max_length=20)],
    label: Annotated[str, Form(max_length=129)],
) -> Response:
    number = _number(version, "version")
    assert number is not None
    started = await run_in_threadpool(
        svc.start_required,
        config(request).ctx,
        acting(user, project),
        project,
        prompt,
        number,
        label,
    )
    suites = ", ".join(r.suite for r in started)
    notice = f"Started the runs the gate of {label} needs: {suites}."
    if len(started) == 1:
        return redirect(request, evals_url(project, "runs", _q(started[0].id)), notice=notice)
    return redirect(
        request, evals_url(project, "runs") + "?" + urlencode({"prompt": prompt}), notice=notice
    )


@router.get(EVALS + "/runs/{run_id}")
def run_page(request: Request, project: str, run_id: str, user: Viewer) -> Response:
    values = _run_values(request, user, project, run_id)
    if is_htmx(request):
        # 286 tells htmx to stop polling: a final run no longer changes.
        return render(
            request,
            "_evals_run_body.html",
            status_code=200 if values["live"] else 286,
            project=project,
            **values,
        )
    return render(request, "evals_run.html", project=project, nav="evals", **values)


@router.post(EVALS + "/runs/{run_id}/{action}")
async def run_action(
    request: Request, project: str, run_id: str, action: str, user: Writer
) -> Response:
    ctx = config(request).ctx
    who = acting(user, project)
    if action == "cancel":
        await run_in_threadpool(svc.cancel_run, ctx, who, project, run_id)
        notice = f"Run {run_id} was cancelled."
    elif action == "resume":
        await run_in_threadpool(svc.resume_run, ctx, who, project, run_id)
        notice = f"Run {run_id} is queued again (its missing cases only)."
    else:
        raise NotFoundError(f"no action {action!r} on a run (cancel, resume)", field="action")
    return redirect(request, evals_url(project, "runs", _q(run_id)), notice=notice)
