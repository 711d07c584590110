"""Running the Alembic migrations from code, without an ``alembic.ini``.

The migration scripts ship inside the package (``migrations/``), so an installed promptstage
can build or upgrade its database with ``upgrade_database(url)`` or ``promptstage db upgrade``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from .engine import BEGIN_OPTION, BEGIN_WRITE, is_unavailable, make_engine, unavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Any constant works; it only has to be the same in every promptstage process.
_PG_MIGRATION_LOCK = 0x70735F6D6967  # "ps_mig"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations.

    Args:
        url: the database URL, only needed when Alembic opens the connection itself
            (the ``alembic`` command line, offline SQL generation).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Silences Alembic's legacy-separator warning; we set no multi-path options anyway.
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation treats "%" specially (URL-encoded passwords contain it).
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_engine(engine: Engine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision, in one transaction.

    Concurrent upgrades from several processes serialize: SQLite through ``BEGIN IMMEDIATE``,
    Postgres through a transaction-scoped advisory lock; the second one finds nothing to do.

    Raises:
        ServiceUnavailableError: the database cannot be reached.
    """
    try:
        _upgrade(engine)
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise unavailable(engine.url, exc) from exc
        raise


def _upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.execution_options(**{BEGIN_OPTION: BEGIN_WRITE})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def upgrade_database(url: str) -> None:
    """Create or upgrade the promptstage schema at ``url`` (``alembic upgrade head``).

    Args:
        url: ``sqlite:///path/to/promptstage.db`` or ``postgresql+psycopg://...``.

    Raises:
        ConfigurationError: the URL names an unsupported database.
        ServiceUnavailableError: the database cannot be reached.
    """
    engine = make_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
