"""``Idempotency-Key`` on writes: the ASGI middleware that claims the key, replays the first
answer, and documents the header on every write operation.

The policy (claims, leases, what a retry gets) lives in ``service/idempotency.py``; this module
only reads the request and writes the response, so no route knows about idempotency.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.api.auth import key_holder
from promptstage.api.errors import error_response
from promptstage.api.limits import replaying
from promptstage.api.metrics import ASGIApp, Receive, Scope, Send
from promptstage.domain.idempotency import (
    HEADER,
    KEPT_HEADERS,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    StoredResponse,
    check_key,
    request_hash,
    scope_of,
)
from promptstage.errors import PromptstageError
from promptstage.service import idempotency
from promptstage.service.context import Context
from promptstage.service.keys import Authenticator

METHODS = frozenset({"POST", "PUT", "PATCH"})
_HEADER_BYTES = HEADER.lower().encode()


class Idempotency:
    """ASGI middleware: writes under ``/api/`` that carry an ``Idempotency-Key`` run once per
    key; a retry gets the first answer with ``Idempotent-Replayed: true``.

    A request whose key does not authenticate goes through untouched (the route answers 401):
    only callers with a key can leave records behind.
    """

    def __init__(self, app: ASGIApp, *, ctx: Context, authenticator: Authenticator) -> None:
        self.app = app
        self.ctx = ctx
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        raw = next((v for k, v in headers if k == _HEADER_BYTES), None)
        if raw is None:
            await self.app(scope, receive, send)
            return
        try:
            key = check_key(raw.decode("latin-1"))
        except PromptstageError as exc:
            await _error(exc)(scope, receive, send)
            return
        caller = await self._caller(headers)
        if caller is None:
            await self.app(scope, receive, send)
            return
        body, receive = await _buffered(receive)
        method, path = scope["method"], scope["path"]
        fingerprint = request_hash(method, path, scope.get("query_string", b""), body)
        try:
            found = await run_in_threadpool(
                idempotency.begin, self.ctx, scope_of(caller, method, path), key, fingerprint
            )
        except PromptstageError as exc:
            await _error(exc)(scope, receive, send)
            return
        if isinstance(found, StoredResponse):
            await _replay(found)(scope, receive, send)
            return
        await self._run(found, scope, receive, send)

    async def _caller(self, headers: Any) -> str | None:
        """Who the request's key is (its prefix, or the actor of a key without one) if it
        authenticates."""
        who = await key_holder(self.authenticator, headers)
        return None if who is None else who.key_prefix or who.actor

    async def _run(
        self, claim: idempotency.Claim, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Run the request under ``claim``, keep a copy of its answer, store it at the end."""
        status = 0
        kept: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        complete = False

        async def recording(message: MutableMapping[str, Any]) -> None:
            nonlocal status, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    text = name.decode("latin-1").lower()
                    if text in KEPT_HEADERS:
                        kept.append((text, value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        try:
            with idempotency.holding(claim):
                await self.app(scope, receive, recording)
        finally:
            if complete:
                answer = StoredResponse(status, tuple(kept), b"".join(chunks))
                await run_in_threadpool(idempotency.finish, self.ctx, claim, answer)
            else:
                await run_in_threadpool(idempotency.abandon, self.ctx, claim)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body (``BodyLimit``, outside, bounds it) and a ``receive`` replaying it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    return body, replaying(body, receive)


def _replay(stored: StoredResponse) -> Response:
    headers = {**dict(stored.headers), REPLAYED_HEADER: "true"}
    return Response(stored.body, status_code=stored.status, headers=headers)


def _error(exc: PromptstageError) -> Response:
    response = error_response(exc.status_code, exc.code, exc.message, exc.field, **exc.details)
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "A client-chosen key (a UUID) naming this request: sent again within 24 h with the "
        "same body, the first answer is returned (with `Idempotent-Replayed: true`) instead of "
        "writing again; with another body, 422. Scoped to the API key and the path."
    ),
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LENGTH,
        "pattern": "^[!-~]+$",
    },
}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the ``Idempotency-Key`` header on every write operation under ``/api/``."""
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method.upper() not in METHODS:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == HEADER for p in parameters):
                parameters.append(dict(_PARAMETER))
    return schema


def install(app: FastAPI, *, ctx: Context, authenticator: Authenticator) -> None:
    """Add the middleware (inside the body limit, so the body it reads is bounded) and its
    documentation to ``app``."""
    app.add_middleware(Idempotency, ctx=ctx, authenticator=authenticator)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return document(generate())

    app.openapi = openapi  # type: ignore[method-assign]
