"""The approvals inbox: pending change requests, approve or reject.

A request's page shows what it changes (a label move's version diff, a release's plan, a
settings change's before and after) and the approve / reject form, or why the signed-in person
may not decide it (``governance_reads.may_decide``: the same checks the approval makes).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain.events import AuditAction
from promptstage.errors import InvalidInputError
from promptstage.service import change_requests, governance, governance_reads, prompts

from ..session import Viewer, Writer, acting, config
from ..templating import redirect, render

router = APIRouter()
STATES = ("open", "approved", "rejected", "expired")
PAGE = 50


@router.get("/p/{project}/approvals")
def inbox(
    request: Request, user: Viewer, project: str, state: str = "open", cursor: str | None = None
) -> Response:
    ctx = config(request).ctx
    acting(user, project)
    wanted = None if state == "all" else state
    if wanted is not None and wanted not in STATES:
        raise InvalidInputError(
            f"state must be one of {[*STATES, 'all']}, got {state!r}", field="state"
        )
    found, next_cursor = change_requests.list_requests(
        ctx, project, state=wanted, limit=PAGE, cursor=cursor
    )
    base = f"/ui/p/{quote(project, safe='')}/approvals?state={quote(state, safe='')}"
    return render(
        request,
        "approvals.html",
        project=project,
        nav="approvals",
        requests=found,
        state=state,
        states=[*STATES, "all"],
        now=ctx.clock(),
        next_url=f"{base}&cursor={quote(next_cursor, safe='')}" if next_cursor else None,
    )


def _detail(request: Request, user: Any, project: str, request_id: str) -> dict[str, Any]:
    ctx = config(request).ctx
    who = acting(user, project)
    found = governance_reads.get_request(ctx, who, project, request_id)
    diff = None
    if found.kind == AuditAction.LABEL_MOVE:
        base = found.expected_version
        if base is not None and base != found.version:
            diff = prompts.diff(ctx, project, found.prompt, base, found.version)
    elif found.kind == AuditAction.RELEASE_START and found.expected_version is not None:
        diff = prompts.diff(ctx, project, found.prompt, found.expected_version, found.version)
    return {
        "cr": found,
        "cr_state": found.state_at(ctx.clock()),
        "diff": diff,
        "cannot_approve": governance_reads.may_decide(ctx, who, project, found, approving=True),
        "cannot_reject": governance_reads.may_decide(ctx, who, project, found, approving=False),
    }


@router.get("/p/{project}/approvals/{request_id}")
def request_page(request: Request, user: Viewer, project: str, request_id: str) -> Response:
    details = _detail(request, user, project, request_id)
    return render(request, "approval.html", project=project, nav="approvals", **details)


@router.post("/p/{project}/approvals/{request_id}/{decision}")
async def decide(
    request: Request,
    user: Writer,
    project: str,
    request_id: str,
    decision: str,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx = config(request).ctx
    who = acting(user, project)
    if decision == "approve":
        await run_in_threadpool(
            governance.approve_request, ctx, who, project, request_id, reason or None
        )
        notice = f"Change request {request_id} is approved and applied."
    elif decision == "reject":
        await run_in_threadpool(
            governance.reject_request, ctx, who, project, request_id, reason or None
        )
        notice = f"Change request {request_id} is rejected; nothing changed."
    else:
        raise InvalidInputError("decision must be approve or reject", field="decision")
    target = f"/ui/p/{quote(project, safe='')}/approvals/{quote(request_id, safe='')}"
    return redirect(request, target, notice=notice)
