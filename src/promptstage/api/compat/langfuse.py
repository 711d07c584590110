"""The Langfuse public prompt API under ``/api/public/`` (``docs/langfuse.md``).

An application on the real ``langfuse`` SDK works against promptstage by changing its base URL
and keys. Auth is HTTP Basic with a key pair (``api/auth.py`` reads it as the promptstage key it
stands for); every action goes through ``service/langfuse.py`` and so through our services.
Errors answer in Langfuse's shape, ``{"message", "error"}`` (plus our ``code`` and ``field``),
so the SDK surfaces the message: :class:`LangfuseErrors` reshapes them, wherever they arise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptstage.api.auth import principal
from promptstage.api.deps import change_request_ttl, ctx
from promptstage.domain.models import Role
from promptstage.errors import InvalidInputError, MalformedRequestError
from promptstage.service import langfuse as svc
from promptstage.service.keys import Principal

PREFIX = "/api/public"
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


class LangfuseErrors:
    """ASGI middleware: an error under ``/api/public/`` in our shape, from a route or from any
    middleware (auth, rate limits, body limits), is answered in Langfuse's shape instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    start["pass"] = True
                    await send(message)
                    return
                start.update(message)
                return
            if start.get("pass") or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._reshape(start, b"".join(chunks), send)

        await self.app(scope, receive, capture)

    @staticmethod
    async def _reshape(start: dict[str, Any], body: bytes, send: Send) -> None:
        status = int(start["status"])
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        try:
            error = json.loads(body)["error"]
            code, message, field = error["code"], error["message"], error.get("field")
        except (ValueError, KeyError, TypeError):
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if status == 401:
            message += (
                " (Langfuse clients: HTTP Basic with a key pair pk-lf-... / sk-lf-..., "
                "from promptstage key create --langfuse)"
            )
            headers = [(k, v) for k, v in headers if k.lower() != b"www-authenticate"]
            headers.append((b"www-authenticate", b'Basic realm="langfuse"'))
        out = json.dumps(
            {
                "message": message,
                "error": _ERROR_NAMES.get(status, "InternalServerError"),
                "code": code,
                "field": field,
            }
        ).encode()
        headers.append((b"content-length", str(len(out)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": out})


router = APIRouter(prefix=PREFIX, tags=["langfuse"])

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
    svc.authorize(who, Role.editor)
    body = await _body(request)
    return await run_in_threadpool(svc.create_prompt, facade(request), who, body)


@router.patch(
    "/v2/prompts/{name:prompt}/versions/{version}",
    summary="Langfuse: point labels at a version (four-eyes may open a change request)",
)
async def update_labels(name: str, version: int, who: Who, request: Request) -> dict[str, Any]:
    svc.authorize(who, Role.editor)
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
