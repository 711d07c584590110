"""The editor: a new version from a chosen one, with live preview and the diff before saving.

``GET .../new?from=N`` shows the form prefilled from version N (default: the latest). The form
posts back to the same URL with the button pressed as ``action``: ``add_message``,
``remove_message`` (value ``remove_message:i``), ``add_variable``, ``preview``, ``review``
(the diff against the base, the form carried in hidden fields), ``edit`` (back to the form)
and ``save``. ``POST .../new/preview`` is the live preview htmx asks for as one types.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain.models import Role
from promptstage.errors import InvalidInputError
from promptstage.service import drafts, playground, prompts
from promptstage.service.access import check

from ..session import Viewer, Writer, acting, config
from ..templating import redirect, render
from .editor_form import CHOICES, EditorForm, from_form, from_version, input_of, samples, to_draft

router = APIRouter()


def _base(request: Request, user: Any, project: str, name: str, number: int | None) -> Any:
    ctx = config(request).ctx
    check(acting(user, project), project, Role.editor)
    prompt, _ = prompts.get_prompt(ctx, project, name)
    base = prompts.get_version(ctx, project, name, number or prompt.latest_version)
    return prompt, base


def _page(
    request: Request,
    project: str,
    name: str,
    form: EditorForm,
    *,
    errors: dict[str, str] | None = None,
    rendered: Any = None,
    preview_error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "editor.html",
        status_code=status_code,
        project=project,
        nav="overview",
        name=name,
        form=form,
        errors=errors or {},
        rendered=rendered,
        preview_error=preview_error,
        choices=CHOICES,
    )


def _errors(exc: InvalidInputError, form: EditorForm) -> dict[str, str]:
    return {input_of(exc.field, form.type): exc.message}


@router.get("/p/{project}/prompts/{name}/new")
def new_version(request: Request, user: Viewer, project: str, name: str) -> Response:
    number = _query_int(request, "from")
    _, base = _base(request, user, project, name, number)
    return _page(request, project, name, from_version(base))


def _query_int(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidInputError(f"{key} must be a version number, e.g. {key}=3", field=key)
    return int(raw)


async def _posted(request: Request, user: Any, project: str, name: str) -> tuple[EditorForm, str]:
    data = await request.form()
    raw_base = data.get("base")
    number = int(raw_base) if isinstance(raw_base, str) and raw_base.isdigit() else None
    prompt, base = await run_in_threadpool(_base, request, user, project, name, number)
    action = data.get("action")
    return from_form(data, prompt.type, base.number), action if isinstance(action, str) else ""


@router.post("/p/{project}/prompts/{name}/new")
async def post_version(request: Request, user: Writer, project: str, name: str) -> Response:
    form, action = await _posted(request, user, project, name)
    if action == "add_message":
        form.messages.append({"role": "user", "content": ""})
    elif action.startswith("remove_message:"):
        index = action.removeprefix("remove_message:")
        if index.isdigit() and int(index) < len(form.messages):
            del form.messages[int(index)]
    elif action == "add_variable":
        form.variables.append({"name": "", "type": "string", "required": True, "sample": ""})
    elif action == "preview":
        return await _preview_page(request, user, project, name, form)
    elif action == "review":
        return await _review(request, user, project, name, form)
    elif action == "try":
        return await _review(request, user, project, name, form, try_it=True)
    elif action == "save":
        return await _save(request, user, project, name, form)
    return _page(request, project, name, form)


def _preview(request: Request, user: Any, project: str, name: str, form: EditorForm) -> Any:
    who = acting(user, project)
    return drafts.preview(
        config(request).ctx,
        who.actor,
        project,
        name,
        to_draft(form),
        samples(form),
        max_rendered_bytes=config(request).max_rendered_bytes,
    )


async def _preview_page(
    request: Request, user: Any, project: str, name: str, form: EditorForm
) -> Response:
    try:
        rendered = await run_in_threadpool(_preview, request, user, project, name, form)
    except InvalidInputError as exc:
        return _page(request, project, name, form, preview_error=exc.message)
    return _page(request, project, name, form, rendered=rendered)


@router.post("/p/{project}/prompts/{name}/new/preview")
async def live_preview(request: Request, user: Writer, project: str, name: str) -> Response:
    """The preview fragment (htmx): the draft rendered with the sample values, or why not.
    Nothing is written, whatever the form says."""
    form, _ = await _posted(request, user, project, name)
    try:
        rendered = await run_in_threadpool(_preview, request, user, project, name, form)
    except InvalidInputError as exc:
        return render(request, "_editor_preview.html", rendered=None, preview_error=exc.message)
    return render(request, "_editor_preview.html", rendered=rendered, preview_error=None)


async def _review(
    request: Request,
    user: Any,
    project: str,
    name: str,
    form: EditorForm,
    *,
    try_it: bool = False,
) -> Response:
    """The review step; ``try_it`` also sends the draft to its model (the playground's
    ``try_draft``) and shows the answer there."""
    who = acting(user, project)
    ui = config(request)
    tried = None
    try:
        draft = to_draft(form)
        found = await run_in_threadpool(
            drafts.review, ui.ctx, who.actor, project, name, form.base, draft
        )
        if try_it:
            tried = await playground.try_draft(
                ui.ctx,
                who,
                project,
                name,
                form.base,
                draft,
                samples(form),
                providers=ui.eval_providers,
                max_rendered_bytes=ui.max_rendered_bytes,
            )
    except InvalidInputError as exc:
        return _page(request, project, name, form, errors=_errors(exc, form), status_code=422)
    return render(
        request,
        "editor_review.html",
        project=project,
        nav="overview",
        name=name,
        form=form,
        review=found,
        errors={},
        result=tried,
    )


async def _save(request: Request, user: Any, project: str, name: str, form: EditorForm) -> Response:
    who = acting(user, project)
    try:
        draft = to_draft(form)
        version, created = await run_in_threadpool(
            lambda: prompts.write_version(
                config(request).ctx,
                who.actor,
                project,
                name,
                template=draft.template,
                variables=draft.variables,
                config=draft.config,
                message=form.message,
            )
        )
    except InvalidInputError as exc:
        return _page(request, project, name, form, errors=_errors(exc, form), status_code=422)
    target = f"/ui/p/{_q(project)}/prompts/{_q(name)}?version={version.number}"
    if created:
        notice = f"Saved version {version.number} of {name}."
    else:
        notice = (
            f"Nothing new was written: this content is already version {version.number} of "
            f"{name} (same digest)."
        )
    return redirect(request, target, notice=notice)


def _q(value: str) -> str:
    return quote(value, safe="")
