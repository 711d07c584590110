"""The runtime surface: resolve, snapshot (ETag) and the event stream (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from promptstage.api.deps import Runtime, ctx
from promptstage.api.inputs import check_params
from promptstage.domain.events import StreamSignal
from promptstage.domain.models import Event
from promptstage.errors import InvalidInputError
from promptstage.service.event_stream import (
    Frame,
    Heartbeat,
    Notice,
    Withheld,
    current_seq,
    event_stream,
)
from promptstage.service.snapshot import Served, StateCache, resolve_answer, resolve_label

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["runtime"], dependencies=[Depends(check_params)]
)

RESERVED = frozenset({"label", "unit", "render"})
MAX_ATTRS = 64  # api.runtime_fast answers the common case before this route, with the same checks
RESOLVE_PATH = "/api/v1/projects/{project}/prompts/{name}/resolve"


STORE_HEADER = "X-Promptstage-Store"
STALE_HEADER = "X-Promptstage-Stale-Seconds"


async def _state(request: Request, project: str) -> Served:
    """The project's state: from memory on the event loop when current, else via the pool
    (which answers from memory, marked stale, when the store cannot be reached)."""
    cache: StateCache = request.app.state.state_cache
    state = cache.peek(project)
    return Served(state) if state is not None else await run_in_threadpool(cache.read, project)


def _staleness(served: Served) -> dict[str, str]:
    """Headers of an answer served while the store is unreachable (none when current)."""
    if served.stale_seconds is None:
        return {}
    age = str(int(served.stale_seconds))
    return {STORE_HEADER: "unreachable", STALE_HEADER: age, "Age": age}


@router.get(
    "/prompts/{name:prompt}/resolve",
    summary="Resolve a label for a unit and context (thin clients)",
)
async def resolve(
    project: str,
    name: str,
    who: Runtime,
    request: Request,
    label: Annotated[str, Query(max_length=63)] = "prod",
    unit: Annotated[str | None, Query(max_length=256)] = None,
    render: Annotated[bool, Query()] = False,
) -> Response:
    context: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED:
            continue
        if key.startswith("var."):
            variables[key[4:]] = value
        else:
            context[key] = value
    if len(context) + len(variables) > MAX_ATTRS:
        raise InvalidInputError(
            f"at most {MAX_ATTRS} context attributes and variables", field="query"
        )
    served = await _state(request, project)
    state = served.state
    if not render:
        answer = resolve_answer(state, name, label, unit, context)
        return Response(answer, media_type="application/json", headers=_staleness(served))
    found = resolve_label(state, name, label, unit, context)
    v = found.version
    body: dict[str, Any] = {
        "prompt": name,
        "label": label,
        "version": v.number,
        "digest": v.digest,
        "arm": found.resolution.arm,
        "release_id": found.resolution.release_id,
        "unitless": found.resolution.unitless,
        "type": v.type,
        "template": v.template,
        "variables": v.variables,
        "config": v.config,
        "includes": v.includes,
    }
    template = state.template(name, v.number, ctx(request).max_rendered_bytes)
    body["rendered"] = template.render(_typed(variables, template.declared))
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers=_staleness(served),
    )


def _typed(values: dict[str, str], declared: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Query values are text: read those of variables declared with another JSON type as JSON
    (``var.count=3``); what does not parse stays text, and rendering names the variable."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        out[key] = raw
        if declared.get(key, {}).get("type") not in (None, "string"):
            with contextlib.suppress(ValueError, RecursionError):
                out[key] = json.loads(raw)
    return out


@router.get(
    "/snapshot",
    summary="The whole resolvable state of the project (ETag / If-None-Match)",
    responses={304: {"description": "Not modified: If-None-Match holds the current ETag"}},
)
async def snapshot(
    project: str,
    who: Runtime,
    request: Request,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    served = await _state(request, project)
    state = served.state
    headers = {"ETag": state.etag, "Cache-Control": "no-cache", **_staleness(served)}
    if if_none_match is not None:
        # Weak comparison (RFC 9110 13.1.2): a proxy that compresses turns "7" into W/"7".
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        if state.etag in tags or "*" in tags:
            return Response(status_code=304, headers=headers)
    return Response(state.body, media_type="application/json", headers=headers)


def _frame(frame: Frame) -> bytes:
    """``frame`` as Server-Sent Events bytes."""
    match frame:
        case Event():
            data = json.dumps(frame.data, ensure_ascii=False, separators=(",", ":"))
            return f"id: {frame.seq}\nevent: {frame.type}\ndata: {data}\n\n".encode()
        case Withheld():
            return f"id: {frame.seq}\nevent: {StreamSignal.WITHHELD}\ndata: {{}}\n\n".encode()
        case Notice():
            data = json.dumps({"seq": frame.seq}, separators=(",", ":"))
            return f"event: {frame.name}\ndata: {data}\n\n".encode()
        case Heartbeat():
            return b": heartbeat\n\n"


@router.get(
    "/events",
    summary="Server-Sent Events of every change; Last-Event-ID resumes",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "An endless text/event-stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def events(
    project: str,
    who: Runtime,
    request: Request,
    since: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    context = ctx(request)
    position = since
    if last_event_id is not None and last_event_id.strip().isdigit():
        position = int(last_event_id)
    # Unknown project or database down: answered here, before anything is subscribed.
    await asyncio.to_thread(current_seq, context, project)
    frames = event_stream(
        context,
        project,
        position,
        key_prefix=who.key_prefix,
        role=who.role,
        heartbeat_seconds=request.app.state.settings.sse_heartbeat_seconds,
        is_disconnected=request.is_disconnected,
    )
    stats = request.app.state.metrics

    async def body() -> AsyncIterator[bytes]:
        # The generator subscribes to the bus on its first step, once the body is being sent:
        # a client gone before that leaves no subscriber behind.
        stats.sse_clients += 1
        try:
            async with contextlib.aclosing(frames):
                async for frame in frames:
                    yield _frame(frame)
        finally:
            stats.sse_clients -= 1

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
