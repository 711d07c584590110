"""Request body size limit (413) and strict JSON (400), enforced before any handler reads the body."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from promptstage.api import strict_json
from promptstage.api.errors import error_response
from promptstage.api.metrics import ASGIApp, Receive, Scope, Send


async def _reject(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "payload_too_large",
                "message": f"request body is larger than {limit} bytes; send less (split batches, or "
                "keep templates under 256 KiB and include the parts)",
                "field": None,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: answer 413 as soon as a body is known to exceed ``limit`` bytes, and
    400 ``malformed_request`` for a JSON body with ``NaN``/``Infinity`` or a duplicate key."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app, limit = self.app, self.limit
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _reject(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reject(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), None)
        if strict_json.is_json(content_type):
            document, problem = strict_json.parse(body)
            if problem is not None:
                await error_response(400, "malformed_request", problem)(scope, receive, send)
                return
            if document is not None:
                scope[strict_json.PARSED] = document
        await app(scope, replaying(body, receive), send)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app ``body`` (already read from ``receive``) as one
    message, then whatever ``receive`` brings next (a disconnect)."""
    sent = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
