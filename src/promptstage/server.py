"""The one composition root: ``create_app(settings)`` wires store, services and routers."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from promptstage.api import docs_pages, errors, idempotency
from promptstage.api.client_ip import ClientAddress, TrustedProxies
from promptstage.api.compat import langfuse as langfuse_api
from promptstage.api.compat import otlp as _otlp  # noqa: F401  (its route joins langfuse_api's router)
from promptstage.api.headers import SecurityHeaders
from promptstage.api.limits import BodyLimit
from promptstage.api.metrics import Metrics, MetricsMiddleware
from promptstage.api.paths import EncodedSlashes
from promptstage.api.ratelimit import (
    AuthFailures,
    RateLimit,
    RateLimits,
    limits_from,
    make_limiter,
)
from promptstage.api.routes import (
    admin,
    audit,
    calls,
    deps,
    evals,
    governance,
    health,
    labels,
    prompts,
    releases,
    runtime,
    users,
    webhooks,
)
from promptstage.api.runtime_fast import FastPathApp, FastResolver, RuntimeFastPath
from promptstage.api.startup import until_migrated
from promptstage.domain.webhooks import HostPolicy
from promptstage.evals.providers import ProviderConfig, open_provider
from promptstage.service import controller, workers
from promptstage.service import webhooks as webhook_service
from promptstage.service.bus import EventBus
from promptstage.service.context import Clock, Context, utc_now
from promptstage.service.eval_gate import RunSource, build_gate
from promptstage.service.eval_runner import EvalRunner, RunnerOptions
from promptstage.service.gate import Gate
from promptstage.service.idempotency import RecordingStore
from promptstage.service.keys import Authenticator
from promptstage.service.propagation import Propagator
from promptstage.service.snapshot import StateCache
from promptstage.service.startup import StartupGate
from promptstage.service.tracing import NoTracer, Tracer
from promptstage.settings import Settings
from promptstage.store.base import Store
from promptstage.telemetry import start as start_telemetry
from promptstage.ui import app as ui

if TYPE_CHECKING:
    from promptstage.telemetry.otel import Telemetry

VERSION = "0.1.0"

# The server's spans are its own (PROMPTSTAGE_OTEL_*, docs/otel.md). FastAPI 0.16x also traces
# into a tracer provider the process set globally; that is switched off, where FastAPI has it:
# such a provider would get a second set of request spans shaped unlike ours, and every
# request would pay for the check.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open (and, unless ``migrate=False``, migrate) the store named by ``settings.database_url``.

    Without ``migrate`` nothing connects yet: for a server starting while its database cannot
    be reached (:func:`migrate_when_reachable` runs the migrations once it can).
    """
    from promptstage.store.sql import SqlStore, upgrade_database

    if migrate:
        upgrade_database(settings.database_url)
    return SqlStore.from_url(
        settings.database_url, statement_timeout_ms=settings.statement_timeout_ms
    )


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    gate: Gate | None = None,
    tracer: Tracer | None = None,
    run_source: RunSource | None = None,
    migrate_later: bool = False,
    monotonic: Callable[[], float] | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the ASGI application.

    ``store`` and ``clock`` are injectable for tests; ``gate`` is what the promotion door asks
    before a label serves a new version (default: the evaluation gate reading ``run_source``,
    or the eval runs service when none is given; every candidate passes when
    ``settings.eval_gate`` is off, with a loud warning), ``tracer`` what opens spans around
    writes, promotions, label moves and controller looks (default: OpenTelemetry when
    ``settings`` or the standard ``OTEL_*`` variables name an OTLP endpoint, else none; see
    ``promptstage.telemetry``). ``migrate_later``: the database could not be reached at
    start; the migrations are retried in the background until it can. ``monotonic``: what the
    key cache's lifetime is measured by (default: ``time.monotonic``). ``telemetry``: the
    OpenTelemetry wiring to use instead of the one the settings ask for (tests).
    """
    if gate is None:
        gate = build_gate(settings.eval_gate, run_source)
    # OpenTelemetry when an OTLP endpoint is configured (and no tracer was given): the
    # service's spans, one span per request, one per SQL statement inside them.
    if telemetry is None and tracer is None:
        telemetry = start_telemetry(settings, version=VERSION)
    if telemetry is not None:
        tracer = telemetry.tracer
    owns_store = store is None
    the_store = store if store is not None else open_store(settings)
    trace_statements = getattr(the_store, "trace_statements", None)
    if telemetry is not None and trace_statements is not None:
        trace_statements(telemetry.tracer.statement)
    ctx = Context(
        store=RecordingStore(the_store),
        bus=EventBus(),
        clock=clock or utc_now,
        gate=gate,
        tracer=tracer or NoTracer(),
        max_rendered_bytes=settings.max_rendered_bytes,
    )

    propagator = Propagator(ctx)
    startup_gate = StartupGate(
        "the database could not be reached at start" if migrate_later else None
    )
    migrate = None
    if migrate_later:
        from promptstage.store.sql import upgrade_database

        migrate = partial(upgrade_database, settings.database_url)
    # The eval runner's provider clients, from the settings read here at the edge (service/
    # never imports settings); API keys are read from the environment when a client opens.
    eval_providers = ProviderConfig.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        leadership = the_store.leadership(controller.LEADER_LOCK)
        jobs = workers.build_jobs(
            ctx,
            leadership,
            sender=webhook_service.WebhookSender(
                ctx,
                max_attempts=settings.webhook_max_attempts,
                backoff_seconds=settings.webhook_backoff_seconds,
                timeout_seconds=settings.webhook_timeout_seconds,
                policy=HostPolicy.parse(settings.webhook_allowed_hosts),
            ),
            controller_interval=settings.controller_interval,
            webhook_poll_seconds=settings.webhook_poll_seconds,
            call_retention_days=settings.call_retention_days,
            eval_runner=EvalRunner(
                ctx,
                lambda provider: open_provider(provider, eval_providers),
                RunnerOptions(
                    concurrency=settings.eval_concurrency,
                    poll_seconds=settings.eval_poll_seconds,
                    stale_seconds=settings.eval_run_stale_seconds,
                    allowed_hosts=tuple(
                        h.strip() for h in settings.eval_allowed_hosts.split(",") if h.strip()
                    ),
                ),
            ),
            migrate=migrate,
            startup_gate=startup_gate,
        )
        try:
            async with workers.running(the_store, propagator, jobs, leadership):
                yield
        finally:
            await asyncio.to_thread(app.state.state_cache.close)
            if owns_store:
                the_store.close()
            if telemetry is not None:
                await asyncio.to_thread(telemetry.shutdown)  # export what is queued

    app = FastPathApp(
        title="promptstage",
        version=VERSION,
        description="Versioned prompts with environment labels, instant rollback and an audit trail.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by api/docs_pages.py (no CDN)
        redoc_url=None,
        **_NO_NATIVE_TELEMETRY,
    )
    docs_pages.install(app)
    app.state.settings = settings
    app.state.startup_gate = startup_gate
    app.state.ctx = ctx
    app.state.metrics = Metrics()
    app.state.authenticator = Authenticator(
        ctx,
        admin_token=settings.admin_key,
        cache_seconds=settings.auth_cache_seconds,
        outage_grace_seconds=settings.auth_outage_grace_seconds,
        monotonic=monotonic or time.monotonic,
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
        users,
        evals,
        deps,
        langfuse_api,
    ):
        app.include_router(module.router)
    idempotency.install(app, ctx=ctx, authenticator=app.state.authenticator)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.state.rate_limiter = make_limiter(settings.redis_url)
    limits = limits_from(settings)
    failures = AuthFailures(app.state.rate_limiter, limits)
    ui.install(
        app,
        settings,
        ctx=ctx,
        authenticator=app.state.authenticator,
        failures=failures,
        eval_providers=lambda provider: open_provider(provider, eval_providers),
    )
    rate_limits = RateLimits(
        limits=limits,
        limiter=app.state.rate_limiter,
        authenticator=app.state.authenticator,
        clock=ctx.clock,
        failures=failures,
    )
    app.add_middleware(RateLimit, policy=rate_limits)
    if migrate_later:
        app.middleware("http")(until_migrated)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    trusted = TrustedProxies(settings.trusted_proxies)
    app.add_middleware(ClientAddress, trusted=trusted)
    app.add_middleware(langfuse_api.LangfuseErrors)  # /api/public/: Langfuse's error shape
    # A resolve it can answer from memory skips every layer, doing for its answer what each
    # of them does (api/runtime_fast.py); anything else goes through them. In front of the
    # whole app, or inside the request span when one wraps every request.
    resolver = FastResolver(
        cache=app.state.state_cache,
        authenticator=app.state.authenticator,
        route_path=runtime.RESOLVE_PATH,
        trusted=trusted,
        limits=rate_limits,
        metrics=app.state.metrics,
        startup_gate=startup_gate,
    )
    if telemetry is None:
        app.resolver = resolver
    else:
        app.add_middleware(RuntimeFastPath, resolver=resolver)
        telemetry.install(app)  # the request span covers every middleware below
    app.add_middleware(EncodedSlashes)  # outermost: every layer sees %2F inside its segment
    return app
