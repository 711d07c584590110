"""The dependency catalog: tools, indexes, models and rule sets; impact, bump, drift and
model deprecations (docs/dependencies.md). Editors read and write; runtime keys see nothing."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from promptstage.api.deps import Editor, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import Body
from promptstage.domain.deps import KINDS, parse_spec
from promptstage.errors import InvalidInputError
from promptstage.service import dep_bump, deps_drift
from promptstage.service import deps as svc

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["deps"], dependencies=[Depends(check_params)]
)

Dep = Annotated[
    str,
    Query(
        description="KIND:NAME@VERSION, or KIND:NAME for every version",
        examples=["index:kb@7"],
        max_length=300,
    ),
]


class EntryIn(Body):
    kind: str = Field(description=f"One of {', '.join(KINDS)}", examples=["index"])
    name: str = Field(
        description="The name; a model's is PROVIDER/NAME (openai/gpt-4o)", examples=["kb"]
    )
    version: str | int = Field(description="The exact version", examples=["8"])
    body: dict[str, Any] | None = Field(
        default=None,
        description="tool: {description, parameters}; index: {document_count?, built_at?}; "
        "model: {}; ruleset: {description?}",
    )


class RetirementIn(Body):
    dep: str = Field(
        description="model:PROVIDER/NAME@VERSION", examples=["model:openai/gpt-4o@2024-08-06"]
    )
    retires_on: str | None = Field(
        description="The announced retirement date (YYYY-MM-DD); null clears it",
        examples=["2027-03-01"],
    )


class BumpIn(Body):
    dep: str = Field(description="KIND:NAME@NEW_VERSION", examples=["index:kb@8"])
    label: str | None = Field(
        default=None,
        description="Bump the prompts whose version under this label pins another version; "
        "omitted: each prompt's latest version",
        examples=["staging"],
    )


@router.get("/deps", summary="The dependency catalog: every entry, by kind and name")
def list_entries(
    project: str,
    who: Editor,
    request: Request,
    kind: Annotated[str | None, Query(max_length=16)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    found = svc.list_entries(ctx(request), project, kind, name)
    return {"items": [svc.entry_json(e) for e in found], "next_cursor": None}


@router.post(
    "/deps",
    status_code=201,
    summary="Register a catalog entry (immutable); lists the labels pinning another version",
)
def register(project: str, body: EntryIn, who: Editor, request: Request) -> dict[str, Any]:
    done = svc.register(
        ctx(request), who.actor, project, body.kind, body.name, body.version, body.body
    )
    return {
        **svc.entry_json(done.entry),
        "created": done.created,
        "stale_labels": [svc.label_use_json(u) for u in done.stale],
    }


@router.get("/deps/entry", summary="One catalog entry and what uses it at that version")
def get_entry(project: str, dep: Dep, who: Editor, request: Request) -> dict[str, Any]:
    entry, found = svc.get_entry(ctx(request), project, parse_spec(dep, versioned=True))
    return {**svc.entry_json(entry), "impact": svc.impact_json(found)}


@router.get(
    "/deps/impact",
    summary="The prompt versions, labels and release canaries that pin a dependency",
)
def impact(project: str, dep: Dep, who: Editor, request: Request) -> dict[str, Any]:
    return svc.impact_json(svc.impact(ctx(request), project, parse_spec(dep)))


@router.post(
    "/deps/bump",
    summary="Write a version of each affected prompt with only this dependency changed",
)
def bump(project: str, body: BumpIn, who: Editor, request: Request) -> dict[str, Any]:
    target = parse_spec(body.dep, versioned=True)
    done = dep_bump.bump(ctx(request), who.actor, project, target, body.label)
    return {"dep": str(target), "items": [dep_bump.bumped_json(b) for b in done]}


@router.put("/deps/retirement", summary="Set or clear a model's announced retirement date")
def retirement(project: str, body: RetirementIn, who: Editor, request: Request) -> dict[str, Any]:
    when: date | None = None
    if body.retires_on is not None:
        try:
            when = date.fromisoformat(body.retires_on)
        except ValueError:
            raise InvalidInputError(
                "retires_on must be a date YYYY-MM-DD, e.g. 2027-03-01", field="retires_on"
            ) from None
    entry = svc.set_retirement(
        ctx(request), who.actor, project, parse_spec(body.dep, versioned=True), when
    )
    return svc.entry_json(entry)


@router.get(
    "/deps/deprecations",
    summary="Models retiring within the window, with the versions and labels pinned to them",
)
def deprecations(
    project: str,
    who: Editor,
    request: Request,
    within_days: Annotated[int, Query(ge=0, le=3650)] = 90,
) -> dict[str, Any]:
    found = dep_bump.deprecations(ctx(request), project, within_days)
    return {"items": [dep_bump.deprecation_json(d) for d in found], "next_cursor": None}


@router.get(
    "/deps/drift",
    summary="Calls that reported a model, index or tool their version did not pin, per label",
)
def drift(
    project: str,
    who: Editor,
    request: Request,
    label: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    found = deps_drift.project_drift(ctx(request), project, label)
    return {"items": [deps_drift.drift_json(d) for d in found], "next_cursor": None}


@router.get(
    "/prompts/{name}/versions/{number}/drift",
    summary="The drift counted on one version, per label",
)
def version_drift(
    project: str, name: str, number: int, who: Editor, request: Request
) -> dict[str, Any]:
    found = deps_drift.version_drift(ctx(request), project, name, number)
    return {"items": [deps_drift.drift_json(d) for d in found], "next_cursor": None}
