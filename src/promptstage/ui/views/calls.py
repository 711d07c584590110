"""The call log, filtered and paginated on the server, and one call with its replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from promptstage.domain.calls import ARMS, CallFilter
from promptstage.domain.models import Role
from promptstage.errors import InvalidInputError
from promptstage.service import access, calls, evidence

from ..session import Viewer, acting, config
from ..templating import render
from .audit import page_url, pretty

router = APIRouter()

PAGE = 50
Text = Annotated[str, Query(max_length=200)]


def _version(value: str) -> int | None:
    """The version filter: a whole number from 1, or nothing.

    Raises:
        InvalidInputError: naming ``version``.
    """
    if not value.strip():
        return None
    if not value.strip().isdigit() or int(value) < 1:
        raise InvalidInputError(
            f"version must be a version number (1, 2, ...), got {value!r}", field="version"
        )
    return int(value)


def _where(filters: dict[str, str]) -> CallFilter:
    """The filter the form asked for (empty fields do not filter).

    Raises:
        InvalidInputError: naming the field that is not valid.
    """
    arm = filters["arm"] or None
    if arm is not None and arm not in ARMS:
        raise InvalidInputError(f"arm must be one of {', '.join(ARMS)}", field="arm")
    return CallFilter(
        prompt=filters["prompt"].strip() or None,
        version=_version(filters["version"]),
        label=filters["label"].strip() or None,
        release_id=filters["release"].strip() or None,
        arm=arm,
        since=evidence.parse_bound(filters["since"] or None, "since"),
        until=evidence.parse_bound(filters["until"] or None, "until"),
    )


@router.get("/p/{project}/calls")
def calls_page(
    request: Request,
    project: str,
    user: Viewer,
    prompt: Text = "",
    version: Text = "",
    label: Text = "",
    arm: Text = "",
    release: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    access.check(acting(user, project), project, Role.editor)
    filters = {
        "prompt": prompt, "version": version, "label": label, "arm": arm, "release": release,
        "since": since, "until": until,
    }  # fmt: skip
    base = f"/ui/p/{project}/calls"
    errors: dict[str, str] = {}
    rows: list[Any] = []
    next_cursor = None
    try:
        rows, next_cursor = calls.list_calls(
            config(request).ctx, project, _where(filters), PAGE, cursor or None
        )
    except InvalidInputError as exc:
        errors[exc.field or "prompt"] = exc.message
    return render(
        request,
        "calls.html",
        status_code=422 if errors else 200,
        project=project,
        nav="calls",
        filters=filters,
        errors=errors,
        arms=ARMS,
        rows=rows,
        first_url=page_url(base, filters) if cursor else None,
        next_url=page_url(base, filters, next_cursor) if next_cursor else None,
    )


@router.get("/p/{project}/calls/{call_id}")
def call_page(request: Request, project: str, call_id: str, user: Viewer) -> Response:
    access.check(acting(user, project), project, Role.editor)
    ui = config(request)
    call, version, scores = calls.get_call(ui.ctx, project, call_id)
    replayed = calls.replay(call, version, ui.max_rendered_bytes)
    output = call.output
    return render(
        request,
        "call.html",
        project=project,
        nav="calls",
        call=call,
        version=version,
        scores=scores,
        replay=replayed,
        variables=None if call.variables is None else pretty(call.variables),
        output_text=output if isinstance(output, str) else None,
        output_json=None if output is None or isinstance(output, str) else pretty(output),
        context=[(key, pretty(value)) for key, value in sorted(call.context.items())],
    )
