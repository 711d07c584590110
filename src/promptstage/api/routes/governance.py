"""Project governance settings and four-eyes change requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from promptstage.api.deps import Admin, Limit, Releaser, change_request_ttl, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import Body
from promptstage.domain.governance import DEFAULT_PROTECTED, change_request_json, settings_json
from promptstage.service import change_requests as svc
from promptstage.service import governance

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["governance"], dependencies=[Depends(check_params)]
)


class SettingsIn(Body):
    protected_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROTECTED),
        description="Labels that need the releaser role to move, remove, roll back or release",
        examples=[["prod"]],
    )
    four_eyes: bool = Field(
        default=True,
        description="Moves and releases of protected labels need a second releaser's approval",
    )
    max_key_lifetime_days: int | None = Field(
        default=None,
        description="The longest a key of a person may live, in days (null: no limit); "
        "service accounts' keys are not bound by it",
    )
    gate_policy: dict[str, Any] | None = Field(
        default=None,
        description="The evaluation gate per label: {labels: {LABEL: {suites: [{suite, "
        "min_pass_rate?, scope?}]}}} (null: the default, prod needs builtin/security at 100 % "
        "of its deterministic probes); omitted: kept as it is; loosening it is a weakening "
        "(four-eyes)",
    )
    static_policy: dict[str, Any] | None = Field(
        default=None,
        description="Severity of each static check on version writes, {kind: block|warn|off} "
        "(null: secrets and invisible or bidi characters block, the rest warn; omitted: kept)",
    )
    reason: str | None = Field(
        default=None, description="Why (kept in the audit trail and on the change request)"
    )


class DecisionIn(Body):
    reason: str | None = Field(default=None, description="Why (kept in the audit trail)")


@router.get("/settings", summary="Protected labels and four-eyes of the project")
def get_settings(project: str, who: Admin, request: Request) -> dict[str, Any]:
    return settings_json(governance.get_settings(ctx(request), project))


@router.put(
    "/settings",
    summary="Set the project's protected labels and four-eyes (202: a weakening waits for another admin)",
    responses={
        202: {
            "description": "Four-eyes: the change weakens governance, so a change request was "
            'opened for another admin (`{"change_request": {...}}`); nothing changed yet'
        }
    },
)
def put_settings(
    project: str, body: SettingsIn, who: Admin, request: Request, response: Response
) -> dict[str, Any]:
    context = ctx(request)
    wanted = governance.parse_settings(
        body.protected_labels,
        body.four_eyes,
        body.max_key_lifetime_days,
        body.gate_policy,
        body.static_policy,
    )
    outcome = governance.propose_settings(
        context,
        who,
        project,
        wanted,
        reason=body.reason,
        ttl=change_request_ttl(request),
        keep=[name for name in governance.KEEPABLE if name not in body.model_fields_set],
    )
    if isinstance(outcome, governance.Opened):
        response.status_code = 202
        return {"change_request": change_request_json(outcome.change_request, context.clock())}
    return settings_json(outcome.value)


@router.get("/change-requests", summary="Four-eyes change requests, newest first (filter by state)")
def list_change_requests(
    project: str,
    who: Releaser,
    request: Request,
    state: Annotated[str | None, Query(description="open, approved, rejected or expired")] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    context = ctx(request)
    items, next_cursor = svc.list_requests(
        context, project, state=state, limit=limit, cursor=cursor
    )
    now = context.clock()
    return {"items": [change_request_json(r, now) for r in items], "next_cursor": next_cursor}


@router.post(
    "/change-requests/{request_id}/approve",
    summary="Approve a change request and apply it (another releaser; another admin for settings)",
)
def approve(
    project: str, request_id: str, who: Releaser, request: Request, body: DecisionIn | None = None
) -> dict[str, Any]:
    context = ctx(request)
    decided, applied = governance.approve_request(
        context, who, project, request_id, (body or DecisionIn()).reason
    )
    return {"change_request": change_request_json(decided, context.clock()), "applied": applied}


@router.post(
    "/change-requests/{request_id}/reject", summary="Reject a change request (another releaser)"
)
def reject(
    project: str, request_id: str, who: Releaser, request: Request, body: DecisionIn | None = None
) -> dict[str, Any]:
    context = ctx(request)
    decided = governance.reject_request(
        context, who, project, request_id, (body or DecisionIn()).reason
    )
    return {"change_request": change_request_json(decided, context.clock())}
