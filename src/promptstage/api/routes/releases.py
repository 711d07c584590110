"""Releases: start, list, read with history and looks, analysis, manual actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from promptstage.api.deps import Editor, Limit, Releaser, change_request_ttl, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import Body, OverrideGateIn
from promptstage.domain.governance import change_request_json
from promptstage.domain.models import iso_utc
from promptstage.domain.wire import look_json, release_change_json, release_json
from promptstage.service import governance
from promptstage.service import releases as svc

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["releases"], dependencies=[Depends(check_params)]
)


class ReleaseIn(Body):
    prompt: str = Field(description="Prompt name", examples=["booking.system"])
    label: str = Field(
        description="The label to change; it must exist (its version is the baseline)",
        examples=["prod"],
    )
    candidate_version: int = Field(description="The version to release")
    strategy: str = Field(
        description="canary (one step, default 5 %), ramp (default 5/25/50/100 %) or ab (fixed split, default 50 %, never auto-promoted)",
        examples=["canary"],
    )
    steps: list[Any] | None = Field(
        default=None,
        description="Weights in basis points (500 = 5 %) or {weight_bps, min_duration_seconds?, min_units?} objects",
    )
    unit_attribute: str | None = Field(
        default=None, description="The stickiness key the runtime passes as unit (default user_id)"
    )
    targeting: dict[str, Any] | None = Field(
        default=None, description="react-querybuilder rule group on context attributes"
    )
    guardrails: list[Any] | None = Field(
        default=None,
        description="[{metric, harmful: increase|decrease, tolerance?, min_units?, fast_threshold?, fast_min_calls?}]; "
        "omitted: error_rate plus every score name with data; []: none",
    )
    auto_rollback: bool = Field(
        default=True, description="Roll back automatically on a regression (else pause)"
    )
    on_insufficient_data: str = Field(
        default="rollback",
        description="rollback or pause: what a step still short of data does at its bake deadline "
        "(4 x its minimum duration, at least 600 s)",
        examples=["rollback"],
    )
    on_drift: str = Field(
        default="hold",
        description="hold, rollback or ignore: what the release does while the candidate's calls "
        "report a model, index or tool its version did not pin (docs/dependencies.md)",
        examples=["hold"],
    )
    reason: str | None = None
    override_gate: OverrideGateIn | None = Field(
        default=None,
        description="Break-glass: start although the evaluation gate refuses the candidate "
        "(admin role; audited as gate.override; the release may complete on it)",
    )


class ActionIn(Body):
    reason: str | None = None


def _detail(release: Any, history: list[Any], looks: list[Any]) -> dict[str, Any]:
    return {
        **release_json(release),
        "history": [release_change_json(c) for c in history],
        "looks": [look_json(lk) for lk in looks],
    }


@router.post(
    "/releases",
    status_code=201,
    summary="Start a release (canary, ramp or A/B; 202: a change request under four-eyes)",
    responses={
        202: {
            "description": 'Four-eyes: a change request was opened (`{"change_request": {...}}`); nothing started yet'
        }
    },
)
def start(
    project: str, body: ReleaseIn, who: Releaser, request: Request, response: Response
) -> dict[str, Any]:
    context = ctx(request)
    fields = body.model_dump(exclude_unset=True, exclude={"override_gate"})
    outcome = governance.propose_release(
        context,
        who,
        project,
        fields,
        ttl=change_request_ttl(request),
        override_gate=body.override_gate.reason if body.override_gate else None,
    )
    if isinstance(outcome, governance.Opened):
        response.status_code = 202
        return {"change_request": change_request_json(outcome.change_request, context.clock())}
    release = outcome.value
    found, history, looks = svc.get_release(context, project, release.id)
    return _detail(found, history, looks)


@router.get("/releases", summary="List releases, newest first (filter by state and prompt)")
def list_releases(
    project: str,
    who: Editor,
    request: Request,
    state: Annotated[
        str | None, Query(description="running, paused, completed, rolled_back, aborted, or active")
    ] = None,
    prompt: str | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_releases(
        ctx(request), project, state=state, prompt=prompt, limit=limit, cursor=cursor
    )
    return {"items": [release_json(r) for r in items], "next_cursor": next_cursor}


@router.get(
    "/releases/{release_id}", summary="One release with its step history and latest decisions"
)
def get_release(project: str, release_id: str, who: Editor, request: Request) -> dict[str, Any]:
    release, history, looks = svc.get_release(ctx(request), project, release_id)
    return _detail(release, history, looks)


@router.get("/releases/{release_id}/looks", summary="Every look of the controller, newest first")
def list_looks(
    project: str,
    release_id: str,
    who: Editor,
    request: Request,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_looks(ctx(request), project, release_id, limit, cursor)
    return {"items": [look_json(lk) for lk in items], "next_cursor": next_cursor}


@router.get(
    "/releases/{release_id}/analysis",
    summary="Per arm and per guardrail: n, mean, interval, decision",
)
def analysis(project: str, release_id: str, who: Editor, request: Request) -> dict[str, Any]:
    context = ctx(request)
    release, result, latest = svc.analysis(context, project, release_id)
    return {
        "release": release_json(release),
        "computed_at": iso_utc(context.clock()),
        **result.to_dict(),
        "latest_look": look_json(latest) if latest is not None else None,
    }


def _action_route(action: str) -> Callable[..., dict[str, Any]]:
    def handler(
        project: str, release_id: str, who: Releaser, request: Request, body: ActionIn | None = None
    ) -> dict[str, Any]:
        args = body or ActionIn()
        context = ctx(request)
        svc.act(context, who.actor, project, release_id, action, args.reason)
        release, history, looks = svc.get_release(context, project, release_id)
        return _detail(release, history, looks)

    handler.__name__ = f"{action}_release"
    return handler


_SUMMARIES = {
    "advance": "Advance a ramp to its next step (into 100 %: promote)",
    "pause": "Pause: keep the split, stop the controller from advancing",
    "resume": "Resume a paused release (clears its health flags)",
    "promote": "Complete: move the label to the candidate",
    "rollback": "Roll back: the candidate gets 0 %, the label stays (final)",
    "abort": "Abort: end the release without a verdict, the label stays (final)",
}
for _action in svc.ACTIONS:
    router.post(f"/releases/{{release_id}}/{_action}", summary=_SUMMARIES[_action])(
        _action_route(_action)
    )
