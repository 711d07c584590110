"""Engines for SQLite and Postgres, configured for promptstage's transaction model.

SQLite: WAL, foreign keys, a busy timeout, and SQLAlchemy (not the ``sqlite3`` driver) emitting
``BEGIN``, so that a writing unit of work can start with ``BEGIN IMMEDIATE`` and writers queue on
the database lock instead of failing mid-transaction. Postgres: a pre-pinged pool with a connect
timeout, so an unreachable server fails fast with ``ServiceUnavailableError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from promptstage.errors import ConfigurationError, ServiceUnavailableError

# Execution option read by the SQLite ``begin`` hook: the statement that opens a transaction.
BEGIN_OPTION = "promptstage_sqlite_begin"
BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN"

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


def make_engine(url: str | URL, *, statement_timeout_ms: int = 0) -> Engine:
    """Create an engine for a ``sqlite:///path`` or ``postgresql+psycopg://...`` URL.

    Args:
        url: the database URL. A bare ``postgresql://`` URL is taken to mean psycopg 3.
        statement_timeout_ms: Postgres ``statement_timeout`` of every session (0: none); a
            statement over it is cancelled, its transaction rolled back, and the caller gets
            ``ServiceUnavailableError``. Ignored on SQLite.

    Returns:
        A configured engine; the caller disposes it.

    Raises:
        ConfigurationError: for a backend promptstage does not support.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _postgres_engine(parsed, statement_timeout_ms)
    raise ConfigurationError(
        f"unsupported database URL scheme {parsed.drivername!r}: use "
        "'sqlite:///path/to/promptstage.db' or 'postgresql+psycopg://user@host/db'",
        field="database_url",
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the folder {str(folder)!r} for the SQLite database ({exc}); "
                "choose a writable path in the database URL",
                field="database_url",
            ) from exc
    kwargs: dict[str, Any] = {
        # Connections move between threads through the pool; SQLite itself is thread-safe here.
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if in_memory:
        # One shared connection, or each checkout would see its own empty database. It is for
        # single-threaded tests: concurrent units of work would share one transaction.
        kwargs["poolclass"] = StaticPool
    else:
        kwargs.update(pool_size=5, max_overflow=20, pool_timeout=30)
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver (it would skip BEGIN for
        # SELECTs and emit its own deferred BEGIN); the "begin" hook below emits it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # With WAL this cannot corrupt the file on power loss (only the last commits can be
            # lost) and spares an fsync per commit.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(BEGIN_OPTION, BEGIN_READ))

    return engine


def _postgres_engine(url: URL, statement_timeout_ms: int) -> Engine:
    connect_args: dict[str, Any] = {
        "connect_timeout": PG_CONNECT_TIMEOUT_S,
        "application_name": "promptstage",
    }
    if statement_timeout_ms > 0:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_timeout=30,
        pool_pre_ping=True,
        # Server-side idle timeouts and failovers drop old connections; recycle before that.
        pool_recycle=1800,
        connect_args=connect_args,
    )


def describe(url: str | URL) -> str:
    """The URL with any password hidden, for error messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def is_unavailable(exc: DBAPIError) -> bool:
    """Whether a driver error means "cannot use the database now" rather than a bad statement."""
    # OperationalError covers refused connections, lost connections and "database is locked";
    # an invalidated connection (dropped mid-transaction) can surface as another DBAPIError.
    return isinstance(exc, OperationalError) or exc.connection_invalidated


def unavailable(url: str | URL, exc: DBAPIError) -> ServiceUnavailableError:
    """The ``ServiceUnavailableError`` for a driver error, naming the URL without its password."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    return ServiceUnavailableError(
        f"the database at {describe(url)} cannot be reached or is busy ({reason}); "
        "check that it is running and that the database URL is right, then retry"
    )


@contextmanager
def database_errors(message: Callable[[str], str]) -> Iterator[None]:
    """Re-raise SQLAlchemy's errors from the block as promptstage errors.

    For the edges (the CLI's ``db`` and ``serve`` commands) that report a failed database step
    without importing SQLAlchemy; errors that already are promptstage's pass through unchanged.

    Args:
        message: builds the error message from the driver's one-line reason.

    Raises:
        ServiceUnavailableError: the block raised a SQLAlchemy error; ``message(reason)``.
    """
    try:
        yield
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ServiceUnavailableError(message(reason)) from exc
