"""The Langfuse public prompt API under ``/api/public/`` (``docs/langfuse.md``).

An application on the real ``langfuse`` SDK works against promptstage by changing its base URL
and keys. Auth is HTTP Basic with a key pair (``api/auth.py`` reads it as the promptstage key it
stands for); every action goes through ``service/langfuse.py`` and so through our services.
Errors answer in Langfuse's shape, ``{"message", "error"}``, so the SDK surfaces the message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from promptstage.api.auth import principal
from promptstage.api.deps import change_request_ttl, ctx
from promptstage.errors import InvalidInputError, MalformedRequestError, PromptstageError
from promptstage.service import langfuse as svc
from promptstage.service.keys import Principal

UNIT_HEADER = "X-Promptstage-Unit"
"""The header a caller names its unit with, so a running release keeps it on its arm."""

_ERROR_NAMES = {
    400: "BadRequestError",
    401: "UnauthorizedError",
    403: "AccessDeniedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    409: "ConflictError",
    422: "InvalidRequestError",
    428: "PreconditionRequiredError",
    429: "RateLimitError",
    503: "ServiceUnavailableError",
}


def langfuse_error(status: int, message: str, code: str, field: str | None) -> JSONResponse:
    """Langfuse's error body, with our ``code`` and ``field`` beside it."""
    body = {
        "message": message,
        "error": _ERROR_NAMES.get(status, "InternalServerError"),
        "code": code,
        "field": field,
    }
    headers = {"WWW-Authenticate": 'Basic realm="langfuse"'} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


class LangfuseRoute(APIRoute):
    """A route whose errors (ours and request validation's) answer in Langfuse's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def shaped(request: Request) -> Response:
            try:
                return await handler(request)
            except PromptstageError as exc:
                return langfuse_error(exc.status_code, exc.message, exc.code, exc.field)
            except RequestValidationError as exc:
                first = dict(exc.errors()[0]) if exc.errors() else {}
                loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
                field = ".".join(loc) or None
                return langfuse_error(
                    400,
                    f"{field or 'request'}: {first.get('msg', 'invalid')}",
                    "invalid_input",
                    field,
                )

        return shaped


router = APIRouter(prefix="/api/public", tags=["langfuse"], route_class=LangfuseRoute)

Who = Annotated[Principal, Depends(principal)]


def facade(request: Request) -> svc.Facade:
    """The facade's collaborators, from the application state."""
    return svc.Facade(
        ctx=ctx(request),
        cache=request.app.state.state_cache,
        production=request.app.state.settings.langfuse_production_label,
        ttl=change_request_ttl(request),
    )


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise MalformedRequestError(f"request body is not valid JSON ({exc})") from None


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{field} must be an ISO-8601 timestamp", field=field) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/v2/prompts/{name:prompt}", summary="Langfuse: a prompt by label or version")
async def get_prompt(
    name: str,
    who: Who,
    request: Request,
    version: Annotated[int | None, Query(ge=1)] = None,
    label: Annotated[str | None, Query(max_length=63)] = None,
    resolve: bool | None = None,
    unit: Annotated[str | None, Header(alias=UNIT_HEADER, max_length=256)] = None,
) -> dict[str, Any]:
    return await run_in_threadpool(
        svc.get_prompt, facade(request), who, name, label=label, version=version, unit=unit
    )


@router.get("/v2/prompts", summary="Langfuse: prompts with their versions and labels, paged")
async def list_prompts(
    who: Who,
    request: Request,
    name: str | None = None,
    label: str | None = None,
    tag: str | None = None,
    page: int = 1,
    limit: int = 50,
    from_updated_at: Annotated[str | None, Query(alias="fromUpdatedAt")] = None,
    to_updated_at: Annotated[str | None, Query(alias="toUpdatedAt")] = None,
    filter: str | None = None,
) -> dict[str, Any]:
    if filter is not None:
        raise InvalidInputError(
            "the 'filter' parameter is not supported by promptstage; use name, label, tag, "
            "fromUpdatedAt and toUpdatedAt",
            field="filter",
        )
    return await run_in_threadpool(
        lambda: svc.list_prompts(
            facade(request),
            who,
            name=name,
            label=label,
            tag=tag,
            page=page,
            limit=limit,
            since=_when(from_updated_at, "fromUpdatedAt"),
            until=_when(to_updated_at, "toUpdatedAt"),
        )
    )


@router.post("/v2/prompts", status_code=201, summary="Langfuse: create a prompt version")
async def create_prompt(who: Who, request: Request) -> dict[str, Any]:
    body = await _body(request)
    return await run_in_threadpool(svc.create_prompt, facade(request), who, body)


@router.patch(
    "/v2/prompts/{name:prompt}/versions/{version}",
    summary="Langfuse: point labels at a version (four-eyes may open a change request)",
)
async def update_labels(name: str, version: int, who: Who, request: Request) -> dict[str, Any]:
    body = await _body(request)
    return await run_in_threadpool(svc.update_labels, facade(request), who, name, version, body)


@router.delete(
    "/v2/prompts/{name:prompt}",
    status_code=204,
    summary="Langfuse: archive a prompt (versions are never deleted)",
)
async def delete_prompt(
    name: str,
    who: Who,
    request: Request,
    label: str | None = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    await run_in_threadpool(
        svc.delete_prompt, facade(request), who, name, label=label, version=version
    )
    return Response(status_code=204)


@router.get("/projects", summary="Langfuse: the key's project (auth_check)")
async def projects(who: Who) -> dict[str, Any]:
    return svc.projects(who)
