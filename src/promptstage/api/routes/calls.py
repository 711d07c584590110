"""The call log: batched ingest (202) and reading calls with the exact version they used."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator
from starlette.concurrency import run_in_threadpool

from promptstage.api import strict_json
from promptstage.api.deps import Editor, Limit, Runtime, ctx
from promptstage.domain.calls import ARMS, CallFilter
from promptstage.domain.wire import call_json, score_json, version_json
from promptstage.errors import MalformedRequestError
from promptstage.service import calls as svc

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["calls"])

_CALL_ITEM = {
    "type": "object",
    "required": ["id", "prompt", "label", "version", "digest"],
    "properties": {
        "id": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "prompt": {"type": "string"},
        "label": {"type": "string"},
        "version": {"type": "integer", "minimum": 1},
        "digest": {"type": "string"},
        "release_id": {"type": ["string", "null"]},
        "arm": {"type": "string", "enum": list(ARMS)},
        "unit_hash": {"type": ["string", "null"]},
        "context": {"type": "object"},
        "variables": {"type": ["object", "null"]},
        "output": {},
        "model": {"type": ["string", "null"]},
        "latency_ms": {"type": ["number", "null"]},
        "tokens_in": {"type": ["integer", "null"]},
        "tokens_out": {"type": ["integer", "null"]},
        "cost": {"type": ["number", "null"]},
        "error": {"type": ["string", "null"]},
        "index": {"type": ["string", "null"], "description": "retrieval index used, NAME@VERSION"},
        "tools": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}
_SCORE_ITEM = {
    "type": "object",
    "required": ["call_id", "name", "value"],
    "properties": {
        "call_id": {"type": "string"},
        "name": {"type": "string"},
        "value": {"type": "number"},
        "source": {"type": "string", "enum": ["user", "evaluator", "heuristic", "system"]},
        "at": {"type": "string", "format": "date-time"},
    },
}


def _batch_doc(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": [key],
                        "properties": {
                            key: {"type": "array", "maxItems": svc.MAX_BATCH, "items": item}
                        },
                    }
                }
            },
        }
    }


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _not_a_number(value: Any) -> Any:
    """Refuse a bare number, which pydantic would read as a Unix time."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("must be an ISO-8601 date-time such as 2026-11-26T17:00:00Z, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


async def _json_body(request: Request) -> Any:
    if strict_json.PARSED in request.scope:  # already parsed (strictly) by the body middleware
        return request.scope[strict_json.PARSED]
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise MalformedRequestError(f"request body is not valid JSON ({exc})") from None


@router.post(
    "/calls",
    status_code=202,
    summary="Ingest a batch of call records",
    openapi_extra=_batch_doc("calls", _CALL_ITEM),
)
async def post_calls(project: str, who: Runtime, request: Request) -> dict[str, int]:
    body = await _json_body(request)
    return await run_in_threadpool(svc.ingest_calls, ctx(request), project, body)


@router.post(
    "/scores",
    status_code=202,
    summary="Ingest a batch of scores",
    openapi_extra=_batch_doc("scores", _SCORE_ITEM),
)
async def post_scores(project: str, who: Runtime, request: Request) -> dict[str, int]:
    body = await _json_body(request)
    return await run_in_threadpool(svc.ingest_scores, ctx(request), project, body)


@router.get("/calls", summary="The call log, newest first")
def list_calls(
    project: str,
    who: Editor,
    request: Request,
    prompt: str | None = None,
    version: Annotated[int | None, Query(ge=1)] = None,
    release: str | None = None,
    arm: str | None = None,
    since: Annotated[
        IsoDateTime | None, Query(description="ISO-8601 date-time, e.g. 2026-11-26T17:00:00Z")
    ] = None,
    limit: Limit = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    where = CallFilter(prompt=prompt, version=version, release_id=release, arm=arm, since=since)
    items, next_cursor = svc.list_calls(ctx(request), project, where, limit, cursor)
    return {"items": [call_json(c) for c in items], "next_cursor": next_cursor}


@router.get("/calls/{call_id}", summary="One call with the exact version it used and its scores")
def get_call(project: str, call_id: str, who: Editor, request: Request) -> dict[str, Any]:
    call, version, scores = svc.get_call(ctx(request), project, call_id)
    return {
        **call_json(call),
        "version_data": version_json(version) if version is not None else None,
        "scores": [score_json(s) for s in scores],
    }
