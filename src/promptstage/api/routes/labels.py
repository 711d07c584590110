"""Labels: read (with its ETag), move with compare-and-set, remove, history, rollback.

A label's ETag is its version number in quotes (``"3"``): ``If-Match: "3"`` on a move is the
same precondition as ``"expected_version": 3``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from promptstage.api.deps import Caller, Limit, change_request_ttl, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import LabelMoveIn, RollbackIn
from promptstage.domain.governance import change_request_json
from promptstage.domain.models import Role
from promptstage.domain.wire import move_json
from promptstage.errors import InvalidInputError, NotFoundError
from promptstage.service import governance
from promptstage.service import labels as svc
from promptstage.service import prompts as prompts_svc
from promptstage.service.access import check

router = APIRouter(
    prefix="/api/v1/projects/{project}/prompts/{name:prompt}/labels",
    tags=["labels"],
    dependencies=[Depends(check_params)],
)

MOVE_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {
        "description": 'Four-eyes: a change request was opened (`{"change_request": {...}}`); nothing changed yet'
    },
    409: {
        "description": "The label moved meanwhile (`version_mismatch`), or the evaluation gate "
        "refuses the version (`gate_refused`: `details.verdicts` name the suites and cases)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    428: {
        "description": "A protected label needs `expected_version` or `If-Match` (the label's ETag)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def label_etag(version: int) -> str:
    """The ETag of a label pointing at ``version``."""
    return f'"{version}"'


def _if_match_version(if_match: str) -> int:
    """The version an ``If-Match`` header names: exactly one strong label ETag."""
    tag = if_match.strip()
    inner = tag[1:-1] if len(tag) >= 3 and tag[0] == tag[-1] == '"' else ""
    if not inner.isdigit() or int(inner) < 1:
        raise InvalidInputError(
            f'If-Match must be one label ETag, e.g. "3" as GET .../labels/{{label}} answers, '
            f"got {if_match[:40]!r}",
            field="If-Match",
        )
    return int(inner)


def _precondition(body: LabelMoveIn, if_match: str | None) -> tuple[int | None, bool]:
    """``(expected_version, expect_absent)`` from the body and the ``If-Match`` header."""
    given = "expected_version" in body.model_fields_set
    if if_match is None:
        return body.expected_version, given and body.expected_version is None
    version = _if_match_version(if_match)
    if given and body.expected_version != version:
        raise InvalidInputError(
            f"If-Match names version {version} but expected_version is {body.expected_version}: "
            "send one of them",
            field="If-Match",
        )
    return version, False


@router.get("/{label}", summary="The version a label points at (ETag: the label's ETag)")
def get(project: str, name: str, label: str, who: Caller, request: Request) -> Response:
    check(who, project, Role.editor)
    _, labels = prompts_svc.get_prompt(ctx(request), project, name)
    version = labels.get(label)
    if version is None:
        raise NotFoundError(f"prompt {name!r} has no label {label!r}", field="label")
    return JSONResponse(
        {"prompt": name, "label": label, "version": version},
        headers={"ETag": label_etag(version)},
    )


@router.put(
    "/{label}",
    summary="Move a label to a version (202: a change request under four-eyes)",
    responses=MOVE_ANSWERS,
)
def move(
    project: str,
    name: str,
    label: str,
    body: LabelMoveIn,
    who: Caller,
    request: Request,
    response: Response,
    if_match: Annotated[
        str | None, Header(description="The label's ETag: the same as expected_version")
    ] = None,
) -> dict[str, Any]:
    context = ctx(request)
    expected_version, expect_absent = _precondition(body, if_match)
    outcome = governance.propose_move(
        context,
        who,
        project,
        name,
        label,
        body.version,
        expected_version=expected_version,
        expect_absent=expect_absent,
        reason=body.reason,
        ttl=change_request_ttl(request),
        override_gate=body.override_gate.reason if body.override_gate else None,
    )
    if isinstance(outcome, governance.Opened):
        response.status_code = 202
        return {"change_request": change_request_json(outcome.change_request, context.clock())}
    move = outcome.value
    response.headers["ETag"] = label_etag(body.version)
    return {
        "prompt": name,
        "label": label,
        "version": body.version,
        "changed": move is not None,
        "move": move_json(move) if move else None,
        # "break_glass": a protected label moved by the instance admin key without approval.
        "bypass": outcome.bypass,
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
