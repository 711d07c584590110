"""Eval suites, runs and replays: push and read suites, start, watch, cancel and resume runs,
compare a candidate with the label's version on logged traffic. Every route needs the editor
role (a runtime key never reaches them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from promptstage.api.deps import Editor, Limit, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import Body
from promptstage.domain.eval_wire import case_json, run_json
from promptstage.domain.models import MAX_VERSION
from promptstage.service import eval_replays, eval_runs, eval_suites

router = APIRouter(
    prefix="/api/v1/projects/{project}/evals",
    tags=["evals"],
    dependencies=[Depends(check_params)],
)

Text = Annotated[str, Field(min_length=1, max_length=129)]
Number = Annotated[int, Field(ge=1, le=MAX_VERSION)]


class SuiteIn(Body):
    text: str = Field(
        description="The suite file's text (docs/evals.md, Suite format)",
        max_length=8 * 1024 * 1024,
    )
    format: Literal["yaml", "toml"] = Field(default="yaml", description="yaml (or JSON) or toml")


class ModelIn(Body):
    provider: Text = Field(examples=["openai"])
    name: Text = Field(examples=["gpt-4o"])
    version: Text = Field(examples=["2024-08-06"])


class RunIn(Body):
    suite: Text = Field(description="Suite name (builtin/security or the project's own)")
    prompt: Text
    version: Number = Field(description="The prompt version to evaluate")
    model: ModelIn | None = Field(
        default=None,
        description="Override of the version's config.model (such a run is bound to another "
        "model snapshot, so it never counts for the version's gate)",
    )
    suite_version: Annotated[int, Field(ge=0, le=MAX_VERSION)] | None = Field(
        default=None, description="Suite version; omitted: the newest (0 for a built-in)"
    )


class ReplayIn(Body):
    prompt: Text
    candidate_version: Number
    sample: int = Field(ge=1, le=eval_replays.MAX_SAMPLE, description="Logged calls to replay")
    suite: Text | None = Field(
        default=None,
        description="Suite whose default assertions grade both sides; omitted: the "
        "defaults of builtin/security",
    )
    label: Text = Field(
        default="prod", description="The label whose current version is the baseline"
    )


@router.post(
    "/suites",
    status_code=201,
    summary="Push a suite (YAML or TOML); an identical digest returns the existing version",
)
def push_suite(
    project: str, body: SuiteIn, who: Editor, request: Request, response: Response
) -> dict[str, Any]:
    view, created = eval_suites.push_suite(ctx(request), who.actor, project, body.text, body.format)
    if not created:
        response.status_code = 200
    return {**view.summary(), "created": created}


@router.get("/suites", summary="The built-in suites and the newest version of the project's own")
def list_suites(project: str, who: Editor, request: Request) -> dict[str, Any]:
    views = eval_suites.list_suites(ctx(request), project)
    return {"items": [v.summary() for v in views], "next_cursor": None}


@router.get("/suites/{name:path}", summary="A suite version with its cases, and its versions")
def show_suite(
    project: str,
    name: str,
    who: Editor,
    request: Request,
    version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> dict[str, Any]:
    view, versions = eval_suites.show_suite(ctx(request), project, name, version)
    return {**view.detail(), "versions": versions}


@router.post("/runs", status_code=201, summary="Start an eval run (queued for the runner)")
def start_run(project: str, body: RunIn, who: Editor, request: Request) -> dict[str, Any]:
    run = eval_runs.start_run(
        ctx(request),
        who.actor,
        project,
        suite=body.suite,
        prompt=body.prompt,
        version=body.version,
        model=None if body.model is None else body.model.model_dump(),
        suite_version=body.suite_version,
    )
    return run_json(run)


@router.get("/runs", summary="Eval runs, newest first")
def list_runs(
    project: str,
    who: Editor,
    request: Request,
    suite: Annotated[str | None, Query(max_length=129)] = None,
    prompt: Annotated[str | None, Query(max_length=129)] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    runs, next_cursor = eval_runs.list_runs(
        ctx(request), project, suite=suite, prompt=prompt, limit=limit, cursor=cursor
    )
    return {"items": [run_json(r) for r in runs], "next_cursor": next_cursor}


@router.get("/runs/{run_id}", summary="A run with its progress and one page of its cases")
def show_run(
    project: str,
    run_id: str,
    who: Editor,
    request: Request,
    limit: Limit = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    run, cases, next_cursor = eval_runs.get_run(
        ctx(request), project, run_id, limit=limit, cursor=cursor
    )
    return {
        **run_json(run),
        "cases": {"items": [case_json(c) for c in cases], "next_cursor": next_cursor},
    }


@router.post("/runs/{run_id}/cancel", summary="Cancel a queued or running run")
def cancel_run(project: str, run_id: str, who: Editor, request: Request) -> dict[str, Any]:
    return run_json(eval_runs.cancel_run(ctx(request), who.actor, project, run_id))


@router.post(
    "/runs/{run_id}/resume", summary="Queue an interrupted run again (its missing cases only)"
)
def resume_run(project: str, run_id: str, who: Editor, request: Request) -> dict[str, Any]:
    return run_json(eval_runs.resume_run(ctx(request), who.actor, project, run_id))


@router.post(
    "/replays",
    status_code=201,
    summary="Replay logged calls of the label's version against a candidate, side by side",
)
def start_replay(project: str, body: ReplayIn, who: Editor, request: Request) -> dict[str, Any]:
    replay_id = eval_replays.start_replay(
        ctx(request),
        who.actor,
        project,
        prompt=body.prompt,
        candidate_version=body.candidate_version,
        sample=body.sample,
        suite=body.suite,
        label=body.label,
    )
    return eval_replays.replay_report(ctx(request), project, replay_id)


@router.get("/replays/{replay_id}", summary="A replay: both runs and their comparison")
def show_replay(project: str, replay_id: str, who: Editor, request: Request) -> dict[str, Any]:
    return eval_replays.replay_report(ctx(request), project, replay_id)
