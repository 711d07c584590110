"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib
import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from promptstage.api.auth import bearer_token, principal
from promptstage.api.deps import ctx
from promptstage.domain.models import Role
from promptstage.errors import ServiceUnavailableError
from promptstage.service import deps_metrics
from promptstage.service.access import check
from promptstage.settings import Settings

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store answers (200 ready or degraded, 503 unavailable)",
    responses={503: {"description": "The store cannot be reached and nothing is held"}},
)
def readyz(request: Request) -> JSONResponse:
    """``ready`` (200): the store answers. ``degraded`` (200): the store cannot be reached but
    runtime reads of the projects held are served from memory, so a load balancer keeps
    routing them here. ``unavailable`` (503): the store cannot be reached and nothing is held."""
    try:
        ctx(request).store.ping()
    except ServiceUnavailableError as exc:
        held = request.app.state.state_cache.held()
        if not held:
            return JSONResponse(
                {"status": "unavailable", "store": "unreachable", "reason": exc.message},
                status_code=503,
            )
        return JSONResponse(
            {
                "status": "degraded",
                "store": "unreachable",
                "reason": f"{exc.message}; runtime reads are served from memory, writes fail",
                "serving_from_memory": sorted(held),
                "stale_seconds": int(max(held.values())),
            }
        )
    return JSONResponse({"status": "ready", "store": "ok"})


async def metrics_reader(request: Request) -> None:
    """Who may read ``/metrics``, whose labels name every project, prompt, label and model:
    the bearer of ``PROMPTSTAGE_METRICS_TOKEN``, else the instance admin (401 without a key
    that authenticates, 403 for a project's key); anyone with ``PROMPTSTAGE_METRICS_PUBLIC``."""
    settings: Settings = request.app.state.settings
    if settings.metrics_public:
        return
    token = bearer_token(request.headers.get("authorization"))
    wanted = settings.metrics_token
    if wanted and token and hmac.compare_digest(token.encode(), wanted.encode()):
        return
    check(await principal(request), None, Role.admin)


@router.get(
    "/metrics",
    summary="Prometheus metrics (the metrics token or the instance admin key)",
    response_class=Response,
    dependencies=[Depends(metrics_reader)],
)
def metrics(request: Request) -> Response:
    text = request.app.state.metrics.render()
    # the process metrics still answer while the store is down
    with contextlib.suppress(ServiceUnavailableError):
        text += deps_metrics.metrics_text(ctx(request))
    return Response(text, media_type="text/plain; version=0.0.4")
