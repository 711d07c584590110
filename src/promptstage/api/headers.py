"""Security headers on every response; a route's own value for a header wins.

The API answers JSON and never needs to load anything, so its Content-Security-Policy is
``default-src 'none'``. The interactive docs (``/docs``, ``/redoc``) are FastAPI's Swagger UI and
ReDoc pages, which load their script, CSS, fonts and favicon from public CDNs and start with an
inline script; their policy allows exactly those origins (and inline code on those pages only,
which render nothing but our own OpenAPI document). ``Cache-Control: no-store`` keeps API answers,
which can carry secrets such as a new key's token, out of shared caches (the admin UI's
pages too: they show such tokens once, and :data:`UI_CSP` is theirs); the snapshot and event
stream set their own (``no-cache`` with an ``ETag``) and keep them.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from promptstage.api.metrics import ASGIApp, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# /docs and /redoc load their assets from the package (api/docs_pages.py): no other origin,
# no inline script. ReDoc styles itself with generated <style> elements (CSS-in-JS), hence
# 'unsafe-inline' for styles only; its search runs in a blob: worker.
DOCS_CSP = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; "
    "img-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# The admin UI loads only its own files: no inline script or style, no eval, no framing, and
# forms post back to this origin only. Untrusted text (templates, outputs) is autoescaped, and
# this policy is the second wall should an escape ever be missed.
UI_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
UI_PREFIX = "/ui"

COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)

API_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    *COMMON,
    (b"content-security-policy", API_CSP.encode()),
)
DOCS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    *COMMON,
    (b"content-security-policy", DOCS_CSP.encode()),
)

# The UI's forms are checked against their Origin, which browsers send as "null" under
# no-referrer; same-origin keeps it and still tells other sites nothing.
UI_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    *((k, b"same-origin" if k == b"referrer-policy" else v) for k, v in COMMON),
    (b"content-security-policy", UI_CSP.encode()),
)


class SecurityHeaders:
    """ASGI middleware adding :data:`COMMON` and a Content-Security-Policy where a response
    lacks them."""

    def __init__(self, app: ASGIApp, *, docs_paths: frozenset[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = docs_paths

    def _headers_for(self, path: str) -> tuple[tuple[bytes, bytes], ...]:
        if path in self.docs_paths:
            return DOCS_HEADERS
        if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            return UI_HEADERS
        return API_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._headers_for(scope["path"])

        async def add_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {bytes(name).lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
