"""``promptstage db``: database administration (imports the storage layer lazily)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from .output import fail, say

app = typer.Typer(help="Database administration.", no_args_is_help=True)


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


@app.command("upgrade")
def upgrade(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL [env PROMPTSTAGE_DATABASE_URL].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or upgrade the database schema to the newest migration."""
    from promptstage.errors import PromptstageError
    from promptstage.settings import Settings

    try:
        url = Settings.from_env(database_url=database_url).database_url
    except PromptstageError as exc:
        fail(f"{exc.message}")
    from promptstage.store.sql import database_errors, upgrade_database

    try:
        with database_errors(lambda reason: f"cannot upgrade {redact(url)}: {reason}"):
            upgrade_database(url)
    except PromptstageError as exc:
        fail(f"{exc.message}")
    say(f"database {redact(url)} is at the newest schema", style="green")
