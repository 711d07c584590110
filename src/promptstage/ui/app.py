"""Build the admin UI's ASGI sub-application and mount it under ``/ui``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from promptstage.domain.webhooks import HostPolicy
from promptstage.service.context import Context
from promptstage.service.keys import Authenticator
from promptstage.service.playground import ProviderFactory
from promptstage.settings import Settings

from . import errors
from .config import FailureGuard, UiConfig
from .views import ROUTERS

PREFIX = "/ui"


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
    eval_providers: ProviderFactory | None = None,
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
        webhook_policy=HostPolicy.parse(settings.webhook_allowed_hosts),
        eval_providers=eval_providers,
    )

    def to_ui() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    app.add_api_route("/", to_ui, methods=["GET"], include_in_schema=False)
    app.add_api_route(PREFIX, to_ui, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, create_ui(config), name="ui")
