"""``promptstage serve``: run the server in this process (imports the server lazily)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .output import fail

if TYPE_CHECKING:
    from promptstage.service.context import Context
    from promptstage.settings import Settings


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Interface to bind [env PROMPTSTAGE_HOST; default 127.0.0.1].",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port [env PROMPTSTAGE_PORT; default 8700].",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the store [env PROMPTSTAGE_DATABASE_URL].",
            show_default=False,
        ),
    ] = None,
    demo: Annotated[
        bool | None,
        typer.Option(
            "--demo/--no-demo",
            help="Seed the demo project 'clinic' [env PROMPTSTAGE_DEMO].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes; the controller runs in one at a time [env PROMPTSTAGE_WORKERS].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the promptstage server: migrate, bootstrap the admin key, serve the API.

    Every other setting comes from its PROMPTSTAGE_* environment variable (docs/settings.md).
    """
    from promptstage.errors import PromptstageError
    from promptstage.settings import Settings

    try:
        settings = demo_defaults(
            Settings.from_env(
                host=host, port=port, database_url=database_url, demo=demo, workers=workers
            )
        )
    except PromptstageError as exc:
        fail(f"{exc.message}")
    from promptstage.store.sql import database_errors

    from .db import redact

    try:
        with database_errors(
            lambda reason: f"cannot open the database {redact(settings.database_url)}: {reason}"
        ):
            run(settings)
    except PromptstageError as exc:
        fail(f"{exc.message}")


DEMO_CONTROLLER_INTERVAL = 2.0
"""Seconds between the release controller's looks with ``--demo`` (unless the operator set
``PROMPTSTAGE_CONTROLLER_INTERVAL``): a bad canary is rolled back while the user watches."""


def demo_defaults(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """``settings`` with the demo's defaults: with ``demo``, the controller looks every
    :data:`DEMO_CONTROLLER_INTERVAL` seconds unless ``PROMPTSTAGE_CONTROLLER_INTERVAL`` is set."""
    env = os.environ if environ is None else environ
    if not settings.demo or env.get("PROMPTSTAGE_CONTROLLER_INTERVAL"):
        return settings
    return dataclasses.replace(settings, controller_interval=DEMO_CONTROLLER_INTERVAL)


def controller_line(settings: Settings) -> str:
    """The banner's line about how often the release controller looks at running releases."""
    every = f"{settings.controller_interval:g} s"
    if settings.demo and settings.controller_interval == DEMO_CONTROLLER_INTERVAL:
        why = "(demo; PROMPTSTAGE_CONTROLLER_INTERVAL changes it)"
    else:
        why = "(PROMPTSTAGE_CONTROLLER_INTERVAL)"
    return f"  release controller: looks at running releases every {every} {why}"


def worker_environment(settings: Settings) -> dict[str, str]:
    """The ``PROMPTSTAGE_*`` variables that give a worker process the settings its parent
    decided from flags (and the demo's defaults)."""
    return {
        "PROMPTSTAGE_HOST": settings.host,
        "PROMPTSTAGE_PORT": str(settings.port),
        "PROMPTSTAGE_DATABASE_URL": settings.database_url,
        "PROMPTSTAGE_DEMO": "1" if settings.demo else "0",
        "PROMPTSTAGE_CONTROLLER_INTERVAL": repr(settings.controller_interval),
        "PROMPTSTAGE_WORKERS": str(settings.workers),
    }


def worker_app() -> Any:
    """The app of one ``--workers`` process (uvicorn's factory): settings from the environment
    its parent set; the parent already migrated and seeded."""
    from promptstage.server import create_app
    from promptstage.service.snapshot import settle_heap
    from promptstage.settings import Settings

    app = create_app(Settings.from_env())
    settle_heap()  # the long-lived heap (imports, the app) out of the collector's full passes
    return app


def run(settings: Settings) -> None:
    """Migrate, bootstrap credentials, seed the demo if asked, print how to connect, serve.

    The banner shows a key set in ``PROMPTSTAGE_ADMIN_KEY`` by its prefix only (start logs are
    kept); a key created on the first start is shown in full, that once, or it could never be
    used.

    Args:
        settings: The server's settings (flags over env, see :func:`serve`).

    Raises:
        ConfigurationError: ``PROMPTSTAGE_ADMIN_KEY`` is set but is not a key's shape.
    """
    import uvicorn

    from promptstage.errors import ConfigurationError, ServiceUnavailableError
    from promptstage.server import VERSION, create_app, open_store
    from promptstage.service import demo, keys
    from promptstage.service.bus import EventBus
    from promptstage.service.context import Context
    from promptstage.service.snapshot import settle_heap
    from promptstage.store.sql.engine import describe

    supplied = None if settings.admin_key is None else keys.split_token(settings.admin_key)
    if settings.admin_key is not None and supplied is None:
        raise ConfigurationError(
            "PROMPTSTAGE_ADMIN_KEY must look like ps_<prefix>_<secret> "
            "(letters and digits, no extra underscores)",
            field="PROMPTSTAGE_ADMIN_KEY",
        )
    unreachable: str | None = None
    try:
        store = open_store(settings)
    except ServiceUnavailableError as exc:
        if supplied is None or settings.demo:
            raise  # the first start creates a key or seeds the demo: it needs the database
        # The operator's key needs no database: start, answer 503 naming the database until
        # it answers, then migrate (docs/operations.md, "Database outage").
        unreachable = exc.message
        store = open_store(settings, migrate=False)
    try:
        ctx = Context(store=store, bus=EventBus())
        created = None
        if unreachable is None and settings.admin_key is None and not keys.has_any_key(ctx):
            created = keys.create_instance_key(ctx, "bootstrap admin")
        releasers = demo.seed_demo(ctx) if settings.demo else []
        demo_password = _seed_demo_users(ctx, settings) if settings.demo else None
        url = f"http://{settings.host}:{settings.port}"
        lines = [
            f"promptstage {VERSION} serving {url}  (API docs: {url}/docs)",
            f"  store: {describe(settings.database_url)}",
        ]
        if supplied is not None:
            # The operator has the key already; in full it would land in every start's logs.
            lines.append(f"  admin key (PROMPTSTAGE_ADMIN_KEY): ps_{supplied[0]}_… (prefix only)")
        elif created is not None:
            lines.append(f"  admin key (shown once, store it now): {created}")
        else:
            lines.append(
                "  admin key: created on first start and shown then; "
                "set PROMPTSTAGE_ADMIN_KEY to use a fixed one"
            )
        lines.append(f"  admin UI: {url}/ui/")
        if unreachable is not None:
            lines.append(
                f"  WARNING: {unreachable}. Serving anyway: requests answer 503 until the "
                "database answers; migrations run then."
            )
        lines.append(controller_line(settings))
        if not settings.eval_gate:
            from promptstage.service.eval_gate import EVAL_GATE_OFF

            lines.append(f"  WARNING: {EVAL_GATE_OFF}")
        if settings.demo:
            lines.append(f"  demo project: {demo.PROJECT}")
            lines.extend(_demo_user_lines(settings, demo_password))
            lines.extend(_demo_eval_lines(settings))
        for name, token in zip(demo.RELEASERS, releasers, strict=False):
            lines.append(f"  demo releaser {name} (four-eyes; shown once, store it now): {token}")
        if settings.workers > 1:
            lines.append(
                f"  workers: {settings.workers} processes (the release controller runs in one "
                "at a time)"
            )
        print("\n".join(lines), flush=True)
        common: dict[str, Any] = {
            "host": settings.host,
            "port": settings.port,
            "log_level": settings.log_level,
            "access_log": False,
            "proxy_headers": False,  # the app reads X-Forwarded-For itself (api/client_ip.py)
        }
        if settings.workers > 1:
            # Each worker process builds its app from the environment: hand it these settings.
            os.environ.update(worker_environment(settings))
            store.close()
            uvicorn.run(
                "promptstage.cli.serve:worker_app", factory=True, workers=settings.workers, **common
            )
        else:
            app = create_app(settings, store=store, migrate_later=unreachable is not None)
            settle_heap()  # the long-lived heap (imports, the app) out of the full passes
            uvicorn.run(app, **common)
    finally:
        store.close()


def _seed_demo_users(ctx: Context, settings: Settings) -> str | None:
    """Seed the demo's UI users; the password to show (see ``demo.seed_demo_users``).

    Raises:
        ConfigurationError: ``PROMPTSTAGE_DEMO_PASSWORD`` breaks the password policy.
    """
    from promptstage.errors import ConfigurationError, InvalidInputError
    from promptstage.service import demo

    try:
        return demo.seed_demo_users(ctx, settings.demo_password)
    except InvalidInputError as exc:
        raise ConfigurationError(
            f"PROMPTSTAGE_DEMO_PASSWORD: {exc.message}", field="PROMPTSTAGE_DEMO_PASSWORD"
        ) from None


def _demo_eval_lines(settings: Settings) -> list[str]:
    """The banner's lines about the demo's evaluation gate, its suites and the eval models."""
    from promptstage.evals.gate_policy import SECURITY_SUITE
    from promptstage.service.demo_evals import DEMO_SUITE

    gate = (
        f"prod needs {SECURITY_SUITE} at 100 % (the default gate)"
        if settings.eval_gate
        else "OFF (see the warning above)"
    )
    return [
        f"  evaluation gate: {gate}; suites: {SECURITY_SUITE}, {DEMO_SUITE}",
        "  run a suite: promptstage eval run SUITE --prompt booking.system --version N "
        "(a local model: promptstage dev fake-model, or make fake-model)",
        f"  eval models: openai at {settings.eval_openai_base_url}, "
        f"anthropic at {settings.eval_anthropic_base_url}",
    ]


def _demo_user_lines(settings: Settings, password: str | None) -> list[str]:
    """The banner's lines about the demo's UI users and their password.

    A generated password is shown once, in full (the only way to learn it). One the operator
    set in ``PROMPTSTAGE_DEMO_PASSWORD`` is not printed, like the admin key: start logs are
    kept; the banner says where it is.
    """
    from promptstage.service import demo

    people = ", ".join(f"{name} ({role})" for name, role in demo.UI_USERS)
    lines = [f"  demo UI users: {people}"]
    resets = "`promptstage user passwd NAME` resets it"
    if settings.demo_password is None and password is not None:
        lines.append(f"  demo password (shown once, store it now; {resets}): {password}")
    elif settings.demo_password is None:
        lines.append(f"  demo password: shown when first seeded; {resets}")
    elif password is not None:
        lines.append(
            "  demo password: the value of PROMPTSTAGE_DEMO_PASSWORD "
            "(make run: in .promptstage/demo-password)"
        )
    else:
        lines.append(
            "  demo password: the one set when the demo was first seeded (not "
            f"PROMPTSTAGE_DEMO_PASSWORD); {resets}"
        )
    return lines
