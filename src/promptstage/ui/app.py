"""Build the admin UI's ASGI sub-application and mount it under ``/ui``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from promptstage.service.context import Context
from promptstage.service.keys import Authenticator
from promptstage.settings import Settings

from . import errors
from .views import ROUTERS

PREFIX = "/ui"


class FailureGuard(Protocol):
    """Failed authentications per client IP, shared with the API's keys (``api/ratelimit.py``
    ``AuthFailures``): a refused sign-in counts like a refused key."""

    def blocked_for(self, ip: str, now: float) -> float: ...

    async def failed(self, ip: str, now: float) -> float: ...


@dataclass(frozen=True, slots=True)
class UiConfig:
    """What the views need besides the request: built once by :func:`install`."""

    ctx: Context
    authenticator: Authenticator
    failures: FailureGuard
    idle: timedelta
    absolute: timedelta
    max_rendered_bytes: int
    change_request_ttl: timedelta = timedelta(hours=24)  # how long a change request stays open


def create_ui(config: UiConfig) -> FastAPI:
    """The UI as an application of its own: its routes stay out of the API's OpenAPI document,
    and its errors are pages, not JSON."""
    ui = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    ui.state.ui = config
    ui.mount("/static", StaticFiles(packages=[("promptstage.ui", "static")]), name="static")
    for router in ROUTERS:
        ui.include_router(router)
    errors.install(ui)
    return ui


def install(
    app: FastAPI,
    settings: Settings,
    *,
    ctx: Context,
    authenticator: Authenticator,
    failures: FailureGuard,
) -> None:
    """Mount the UI at ``/ui/`` and send ``/`` there."""
    config = UiConfig(
        ctx=ctx,
        authenticator=authenticator,
        failures=failures,
        idle=timedelta(minutes=settings.ui_session_idle_minutes),
        absolute=timedelta(hours=settings.ui_session_absolute_hours),
        max_rendered_bytes=settings.max_rendered_bytes,
        change_request_ttl=timedelta(hours=settings.change_request_ttl_hours),
    )

    def to_ui() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_api_route("/", to_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX, to_ui, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, create_ui(config), name="ui")
