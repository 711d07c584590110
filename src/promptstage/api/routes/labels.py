"""Labels: move with compare-and-set, remove, history, rollback."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from promptstage.api.deps import Caller, Limit, change_request_ttl, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import LabelMoveIn, RollbackIn
from promptstage.domain.governance import change_request_json
from promptstage.domain.models import Role
from promptstage.domain.wire import move_json
from promptstage.service import governance
from promptstage.service import labels as svc
from promptstage.service import prompts as prompts_svc
from promptstage.service.access import check

router = APIRouter(
    prefix="/api/v1/projects/{project}/prompts/{name}/labels",
    tags=["labels"],
    dependencies=[Depends(check_params)],
)

FOUR_EYES_202: dict[int | str, dict[str, Any]] = {
    202: {
        "description": 'Four-eyes: a change request was opened (`{"change_request": {...}}`); nothing changed yet'
    }
}


@router.put(
    "/{label}",
    summary="Move a label to a version (202: a change request under four-eyes)",
    responses=FOUR_EYES_202,
)
def move(
    project: str,
    name: str,
    label: str,
    body: LabelMoveIn,
    who: Caller,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    context = ctx(request)
    outcome = governance.propose_move(
        context,
        who,
        project,
        name,
        label,
        body.version,
        expected_version=body.expected_version,
        expect_absent="expected_version" in body.model_fields_set and body.expected_version is None,
        reason=body.reason,
        ttl=change_request_ttl(request),
    )
    if isinstance(outcome, governance.Opened):
        response.status_code = 202
        return {"change_request": change_request_json(outcome.change_request, context.clock())}
    move = outcome.value
    return {
        "prompt": name,
        "label": label,
        "version": body.version,
        "changed": move is not None,
        "move": move_json(move) if move else None,
    }


@router.delete("/{label}", summary="Remove a label")
def delete(
    project: str, name: str, label: str, who: Caller, request: Request, reason: str | None = None
) -> dict[str, Any]:
    governance.remove_label(ctx(request), who, project, name, label, reason)
    return {"prompt": name, "label": label, "deleted": True}


@router.get("/{label}/history", summary="Every move of a label, newest first")
def history(
    project: str,
    name: str,
    label: str,
    who: Caller,
    request: Request,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    check(who, project, Role.editor)
    items, next_cursor = svc.label_history(ctx(request), project, name, label, limit, cursor)
    return {"items": [move_json(m) for m in items], "next_cursor": next_cursor}


@router.post("/{label}/rollback", summary="Move a label back to its previous (or a named) version")
def rollback(
    project: str,
    name: str,
    label: str,
    who: Caller,
    request: Request,
    body: RollbackIn | None = None,
) -> dict[str, Any]:
    args = body or RollbackIn()
    move = governance.roll_back_label(
        ctx(request),
        who,
        project,
        name,
        label,
        to_version=args.to_version,
        reason=args.reason,
    )
    if move is None:  # the label's active release was rolled back; the label stays on baseline
        _, labels = prompts_svc.get_prompt(ctx(request), project, name)
        version = labels.get(label)
        return {
            "prompt": name,
            "label": label,
            "version": version,
            "previous": version,
            "move": None,
            "release_rolled_back": True,
        }
    return {
        "prompt": name,
        "label": label,
        "version": move.version,
        "previous": move.previous,
        "move": move_json(move),
    }
