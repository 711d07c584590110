"""Security headers on every response; a route's own value for a header wins.

The API answers JSON and never needs to load anything, so its Content-Security-Policy is
``default-src 'none'``. The interactive docs (``/docs``, ``/redoc``) are FastAPI's Swagger UI and
ReDoc pages, which load their script, CSS, fonts and favicon from public CDNs and start with an
inline script; their policy allows exactly those origins (and inline code on those pages only,
which render nothing but our own OpenAPI document). ``Cache-Control: no-store`` keeps API answers,
which can carry secrets such as a new key's token, out of shared caches; the snapshot and event
stream set their own (``no-cache`` with an ``ETag``) and keep them.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from promptstage.api.metrics import ASGIApp, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """ASGI middleware adding :data:`COMMON` and a Content-Security-Policy where a response
    lacks them."""

    def __init__(self, app: ASGIApp, *, docs_paths: frozenset[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope["path"] in self.docs_paths else API_CSP).encode()
        extra = (*COMMON, (b"content-security-policy", csp))

        async def add_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
