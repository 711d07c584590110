"""The one composition root: ``create_app(settings)`` wires store, services and routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from promptstage.api import errors
from promptstage.api.headers import SecurityHeaders
from promptstage.api.limits import BodyLimit
from promptstage.api.metrics import Metrics, MetricsMiddleware
from promptstage.api.ratelimit import RateLimit, limits_from, make_limiter
from promptstage.api.routes import (
    admin,
    audit,
    calls,
    governance,
    health,
    labels,
    prompts,
    releases,
    runtime,
    webhooks,
)
from promptstage.domain.webhooks import HostPolicy
from promptstage.errors import ConfigurationError, PromptstageError
from promptstage.service import controller
from promptstage.service import webhooks as webhook_service
from promptstage.service.bus import EventBus
from promptstage.service.calls import prune_calls
from promptstage.service.context import Clock, Context, utc_now
from promptstage.service.gate import Gate, OpenGate
from promptstage.service.keys import Authenticator
from promptstage.service.propagation import Propagator
from promptstage.service.snapshot import StateCache
from promptstage.service.tracing import NoTracer, Tracer
from promptstage.settings import Settings
from promptstage.store.base import Store

VERSION = "0.1.0"
log = logging.getLogger("promptstage.server")


def open_store(settings: Settings) -> Store:
    """Open (and migrate) the store named by ``settings.database_url``."""
    from promptstage.store.sql import SqlStore, upgrade_database

    upgrade_database(settings.database_url)
    return SqlStore.from_url(settings.database_url)


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    gate: Gate | None = None,
    tracer: Tracer | None = None,
) -> FastAPI:
    """Build the ASGI application.

    ``store`` and ``clock`` are injectable for tests; ``gate`` is what the promotion door asks
    before a label serves a new version (default: every candidate passes), ``tracer`` what
    opens spans around writes and promotions (default: none).
    """
    owns_store = store is None
    the_store = store if store is not None else open_store(settings)
    ctx = Context(
        store=the_store,
        bus=EventBus(),
        clock=clock or utc_now,
        gate=gate or OpenGate(),
        tracer=tracer or NoTracer(),
    )

    propagator = Propagator(ctx)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop_watching = the_store.watch(propagator.on_notify, propagator.on_reconnect)
        pruning = asyncio.create_task(_prune_calls_forever(ctx, settings))
        # One replica leads (Postgres advisory lock; SQLite: this process): it runs the release
        # controller and sends webhooks.
        leadership = the_store.leadership(controller.LEADER_LOCK)
        sender = webhook_service.WebhookSender(
            ctx,
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            policy=HostPolicy.parse(settings.webhook_allowed_hosts),
        )
        background = [
            asyncio.create_task(
                controller.run_forever(ctx, leadership, settings.controller_interval)
            ),
            asyncio.create_task(
                webhook_service.run_forever(sender, leadership, settings.webhook_poll_seconds)
            ),
        ]
        try:
            yield
        finally:
            pruning.cancel()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await asyncio.to_thread(leadership.release)
            sender.close()
            if stop_watching is not None:
                await asyncio.to_thread(stop_watching)
            if owns_store:
                the_store.close()

    app = FastAPI(
        title="promptstage",
        version=VERSION,
        description="Versioned prompts with environment labels, instant rollback and an audit trail.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ctx = ctx
    app.state.metrics = Metrics()
    app.state.authenticator = Authenticator(
        ctx, admin_token=settings.admin_key, cache_seconds=settings.auth_cache_seconds
    )
    app.state.state_cache = StateCache(ctx, settings.state_check_seconds)
    errors.install(app)
    for module in (
        health,
        admin,
        audit,
        prompts,
        labels,
        runtime,
        calls,
        releases,
        webhooks,
        governance,
    ):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.state.rate_limiter = make_limiter(settings.redis_url)
    app.add_middleware(
        RateLimit,
        limits=limits_from(settings),
        limiter=app.state.rate_limiter,
        authenticator=app.state.authenticator,
        clock=ctx.clock,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


async def _prune_calls_forever(ctx: Context, settings: Settings) -> None:
    """Apply the call-log retention once an hour (first pass a minute after start)."""
    await asyncio.sleep(60)
    while True:
        try:
            removed = await asyncio.to_thread(prune_calls, ctx, settings.call_retention_days)
            if removed:
                log.info(
                    "retention: removed %d calls older than %s days",
                    removed,
                    settings.call_retention_days,
                )
        except PromptstageError as exc:
            log.warning("retention pass failed: %s", exc.message)
        await asyncio.sleep(3600)


def run(settings: Settings) -> None:
    """Migrate, bootstrap credentials, seed the demo if asked, print how to connect, serve."""
    import uvicorn

    from promptstage.service import demo, keys
    from promptstage.store.sql.engine import describe

    store = open_store(settings)
    try:
        ctx = Context(store=store, bus=EventBus())
        if settings.admin_key is not None and keys.split_token(settings.admin_key) is None:
            raise ConfigurationError(
                "PROMPTSTAGE_ADMIN_KEY must look like ps_<prefix>_<secret> "
                "(letters and digits, no extra underscores)",
                field="PROMPTSTAGE_ADMIN_KEY",
            )
        created = None
        if settings.admin_key is None and not keys.has_any_key(ctx):
            created = keys.create_instance_key(ctx, "bootstrap admin")
        releasers = demo.seed_demo(ctx) if settings.demo else []
        url = f"http://{settings.host}:{settings.port}"
        lines = [
            f"promptstage {VERSION} serving {url}  (API docs: {url}/docs)",
            f"  store: {describe(settings.database_url)}",
        ]
        if settings.admin_key is not None:
            lines.append(f"  admin key (PROMPTSTAGE_ADMIN_KEY): {settings.admin_key}")
        elif created is not None:
            lines.append(f"  admin key (shown once, store it now): {created}")
        else:
            lines.append(
                "  admin key: created on first start and shown then; "
                "set PROMPTSTAGE_ADMIN_KEY to use a fixed one"
            )
        if settings.demo:
            lines.append(f"  demo project: {demo.PROJECT}")
        for name, token in zip(demo.RELEASERS, releasers, strict=False):
            lines.append(f"  demo releaser {name} (four-eyes; shown once, store it now): {token}")
        print("\n".join(lines), flush=True)
        app = create_app(settings, store=store)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,
        )
    finally:
        store.close()
