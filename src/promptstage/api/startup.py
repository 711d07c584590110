"""503 for every request but ``/healthz`` while a server started during a database outage
waits for its migrations (``service/startup.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from promptstage.service.startup import StartupGate


async def until_migrated(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Pass the request on once the gate is open; else answer 503 naming the reason."""
    gate: StartupGate = request.app.state.startup_gate
    if gate.reason is None or request.url.path == "/healthz":
        return await call_next(request)
    message = (
        f"{gate.reason}; this server started while the database was unreachable and holds no "
        "state yet: it answers once the database does (migrations run then)"
    )
    if request.url.path == "/readyz":
        body = {"status": "unavailable", "store": "unreachable", "reason": message}
        return JSONResponse(body, status_code=503)
    error = {"error": {"code": "unavailable", "message": message, "field": None}}
    return JSONResponse(error, status_code=503)
