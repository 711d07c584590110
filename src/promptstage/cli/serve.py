"""``promptstage serve``: run the server in this process (imports the server lazily)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import fail


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
) -> None:
    """Run the promptstage server: migrate, bootstrap the admin key, serve the API.

    Every other setting comes from its PROMPTSTAGE_* environment variable (docs/settings.md).
    """
    from promptstage.errors import PromptstageError
    from promptstage.settings import Settings

    try:
        settings = Settings.from_env(host=host, port=port, database_url=database_url, demo=demo)
    except PromptstageError as exc:
        fail(f"{exc.message}")
    from promptstage.server import run
    from promptstage.store.sql import database_errors

    from .db import redact

    try:
        with database_errors(
            lambda reason: f"cannot open the database {redact(settings.database_url)}: {reason}"
        ):
            run(settings)
    except PromptstageError as exc:
        fail(f"{exc.message}")
