"""Labels: move with compare-and-set, remove, history, rollback."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from promptstage.api.auth import check, principal, protected_check
from promptstage.api.inputs import check_params
from promptstage.api.schemas import LabelMoveIn, RollbackIn
from promptstage.domain.governance import change_request_json
from promptstage.domain.models import Role
from promptstage.domain.wire import move_json
from promptstage.errors import PermissionDeniedError
from promptstage.service import change_requests as cr_svc
from promptstage.service import labels as svc
from promptstage.service import prompts as prompts_svc
from promptstage.service.governance import bypass_for
from promptstage.service.keys import Principal

from .prompts import Limit, ctx

router = APIRouter(
    prefix="/api/v1/projects/{project}/prompts/{name}/labels",
    tags=["labels"],
    dependencies=[Depends(check_params)],
)

Caller = Annotated[Principal, Depends(principal)]

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
    settings = protected_check(request, who, project, label)
    context = ctx(request)
    if settings.needs_approval(label) and who.project is not None:
        ttl = timedelta(hours=request.app.state.settings.change_request_ttl_hours)
        opened = cr_svc.open_label_move(
            context,
            who.actor,
            project,
            name,
            label,
            body.version,
            expected_version=body.expected_version,
            reason=body.reason,
            ttl=ttl,
        )
        response.status_code = 202
        return {"change_request": change_request_json(opened, context.clock())}
    move = svc.move_label(
        context,
        who.actor,
        project,
        name,
        label,
        body.version,
        expected_version=body.expected_version,
        expect_absent="expected_version" in body.model_fields_set and body.expected_version is None,
        reason=body.reason,
        bypass=bypass_for(settings, label, instance_key=who.project is None),
        settings_seen=settings,
    )
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
    settings = protected_check(request, who, project, label)
    if settings.needs_approval(label) and who.project is not None:
        raise PermissionDeniedError(
            f"label {label!r} is protected and project {project!r} has four-eyes on: removing it "
            "needs the instance admin key (break-glass), or turn four_eyes off in the project settings",
            field="label",
        )
    bypass = bypass_for(settings, label, instance_key=who.project is None)
    svc.delete_label(
        ctx(request), who.actor, project, name, label, reason, bypass, settings_seen=settings
    )
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
    settings = protected_check(request, who, project, label)
    args = body or RollbackIn()
    move = svc.rollback_label(
        ctx(request),
        who.actor,
        project,
        name,
        label,
        to_version=args.to_version,
        reason=args.reason,
        bypass=bypass_for(settings, label, instance_key=who.project is None, rollback=True),
        settings_seen=settings,
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
