"""Prompts, versions and diffs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from promptstage.api.deps import Editor, Limit, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import PromptIn, PromptPatchIn, VersionIn
from promptstage.domain.wire import prompt_json, release_json, version_json
from promptstage.service import gate_status
from promptstage.service import prompt_lifecycle as lifecycle
from promptstage.service import prompts as svc
from promptstage.service import releases as releases_svc

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["prompts"], dependencies=[Depends(check_params)]
)


@router.post(
    "/prompts",
    status_code=201,
    summary="Create a prompt (with `version`, and its first version in the same transaction)",
)
def create_prompt(project: str, body: PromptIn, who: Editor, request: Request) -> dict[str, Any]:
    if body.version is None:
        prompt = svc.create_prompt(
            ctx(request), who.actor, project, body.name, body.type, body.description, body.tags
        )
        return {**prompt_json(prompt), "labels": {}}
    v = body.version
    prompt, written = lifecycle.create_with_version(
        ctx(request),
        who.actor,
        project,
        body.name,
        body.type,
        body.description,
        body.tags,
        {
            "template": v.template,
            "variables": v.variables,
            "config": v.config,
            "message": v.message,
        },
    )
    return {
        **prompt_json(prompt),
        "labels": {"latest": written.version.number},
        "version": {
            **version_json(written.version),
            "created": written.created,
            "warnings": [f.to_dict() for f in written.warnings],
        },
    }


@router.get("/prompts", summary="List prompts (archived ones only with archived=true)")
def list_prompts(
    project: str,
    who: Editor,
    request: Request,
    limit: Limit = 100,
    cursor: str | None = None,
    archived: bool = False,
) -> dict[str, Any]:
    items, next_cursor = svc.list_prompts(ctx(request), project, limit, cursor, archived=archived)
    return {"items": [prompt_json(p) for p in items], "next_cursor": next_cursor}


@router.patch("/prompts/{name:prompt}", summary="Edit a prompt's description and tags")
def edit_prompt(
    project: str, name: str, body: PromptPatchIn, who: Editor, request: Request
) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    prompt = lifecycle.update_prompt(ctx(request), who.actor, project, name, **given)
    return prompt_json(prompt)


@router.post(
    "/prompts/{name:prompt}/archive",
    summary="Archive a prompt: it leaves lists and snapshots (409 while a label serves it)",
)
def archive_prompt(project: str, name: str, who: Editor, request: Request) -> dict[str, Any]:
    return prompt_json(lifecycle.archive_prompt(ctx(request), who.actor, project, name))


@router.post("/prompts/{name:prompt}/unarchive", summary="Bring an archived prompt back")
def unarchive_prompt(project: str, name: str, who: Editor, request: Request) -> dict[str, Any]:
    return prompt_json(lifecycle.unarchive_prompt(ctx(request), who.actor, project, name))


@router.get("/prompts/{name:prompt}", summary="One prompt with its labels")
def get_prompt(project: str, name: str, who: Editor, request: Request) -> dict[str, Any]:
    prompt, labels = svc.get_prompt(ctx(request), project, name)
    active = releases_svc.active_for_prompt(ctx(request), project, name)
    return {**prompt_json(prompt), "labels": labels, "releases": [release_json(r) for r in active]}


@router.post(
    "/prompts/{name:prompt}/versions",
    status_code=201,
    summary="Write a version (static checks first: 422 when one blocks, warnings returned)",
)
def write_version(
    project: str, name: str, body: VersionIn, who: Editor, request: Request, response: Response
) -> dict[str, Any]:
    written = svc.write_checked(
        ctx(request),
        who.actor,
        project,
        name,
        template=body.template,
        variables=body.variables,
        config=body.config,
        message=body.message,
    )
    if not written.created:
        response.status_code = 200
    return {
        **version_json(written.version),
        "created": written.created,
        "warnings": [f.to_dict() for f in written.warnings],
    }


@router.get("/prompts/{name:prompt}/versions", summary="List versions, newest first")
def list_versions(
    project: str,
    name: str,
    who: Editor,
    request: Request,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_versions(ctx(request), project, name, limit, cursor)
    return {"items": [version_json(v) for v in items], "next_cursor": next_cursor}


@router.get(
    "/prompts/{name:prompt}/versions/{number}",
    summary="One version, with its evaluation gate status per gated label",
)
def get_version(
    project: str, name: str, number: int, who: Editor, request: Request
) -> dict[str, Any]:
    context = ctx(request)
    version = svc.get_version(context, project, name, number)
    status = gate_status.gate_status(context, project, name, number)
    # Absent when the server runs without the evaluation gate (PROMPTSTAGE_EVAL_GATE=0).
    return {**version_json(version), **({} if status is None else {"gate": status})}


@router.get("/prompts/{name:prompt}/diff", summary="What changed between two versions")
def diff(
    project: str,
    name: str,
    who: Editor,
    request: Request,
    from_: Annotated[int, Query(alias="from", ge=1)],
    to: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    return svc.diff(ctx(request), project, name, from_, to)
