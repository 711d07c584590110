"""``SqlStore``: the ``store.base.Store`` on SQLite or Postgres through SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from promptstage.store.base import Store, UnitOfWork

from .engine import BEGIN_OPTION, BEGIN_READ, BEGIN_WRITE, is_unavailable, make_engine, unavailable
from .leader import Leadership
from .migrate import upgrade_engine
from .notify import Listener
from .tracing import OpenSpan, trace_statements
from .uow import SqlUnitOfWork


class SqlStore:
    """Units of work over one SQLAlchemy engine.

    Build it with ``SqlStore.from_url``; ``close()`` disposes the engine's connections.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by ``store.sql.engine.make_engine`` (it installs the hooks)."""
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"

    @classmethod
    def from_url(
        cls, url: str, *, migrate: bool = False, statement_timeout_ms: int = 0
    ) -> SqlStore:
        """Open the store at ``url``.

        Args:
            url: ``sqlite:///path/to/promptstage.db`` (the parent directory is created) or
                ``postgresql+psycopg://user:password@host:5432/dbname``. ``sqlite://``
                (in memory) suits single-threaded tests only.
            migrate: run the Alembic migrations to the newest revision first.
            statement_timeout_ms: Postgres `statement_timeout` of every session (0: none).

        Returns:
            The store; call ``close()`` when done with it.

        Raises:
            ConfigurationError: the URL names an unsupported database.
            ServiceUnavailableError: ``migrate`` was asked and the database cannot be reached.
        """
        store = cls(make_engine(url, statement_timeout_ms=statement_timeout_ms))
        if migrate:
            try:
                store.migrate()
            except BaseException:
                store.close()
                raise
        return store

    @property
    def engine(self) -> Engine:
        """The underlying engine (for migrations, tests and health checks)."""
        return self._engine

    def trace_statements(self, open_span: OpenSpan) -> None:
        """Run every SQL statement of this store inside ``open_span(statement, dialect)``."""
        trace_statements(self._engine, open_span)

    def migrate(self) -> None:
        """Upgrade the schema to the newest migration.

        Raises:
            ServiceUnavailableError: the database cannot be reached.
        """
        upgrade_engine(self._engine)
        with self.unit_of_work(write=True) as uow:  # the call log's partitions, a few days ahead
            uow.ensure_call_partitions(datetime.now(UTC).date())

    @contextmanager
    def unit_of_work(self, *, write: bool = False) -> Iterator[SqlUnitOfWork]:
        """A transaction: committed when the block ends, rolled back if it raises.

        Writers on SQLite start with ``BEGIN IMMEDIATE`` (one writer at a time, others wait up to
        the busy timeout). Readers on Postgres run ``REPEATABLE READ READ ONLY`` so that every
        query of the unit sees one snapshot.

        Args:
            write: ``True`` for a unit of work that changes anything.

        Raises:
            ServiceUnavailableError: the database cannot be reached or stayed locked.
        """
        try:
            connection = self._engine.connect()
        except DBAPIError as exc:
            raise unavailable(self._engine.url, exc) from exc
        try:
            self._configure(connection, write=write)
            with connection.begin():
                yield SqlUnitOfWork(connection, write=write)
        except DBAPIError as exc:
            if is_unavailable(exc):
                raise unavailable(self._engine.url, exc) from exc
            raise
        finally:
            connection.close()

    def _configure(self, connection: Connection, *, write: bool) -> None:
        if self._sqlite:
            connection.execution_options(**{BEGIN_OPTION: BEGIN_WRITE if write else BEGIN_READ})
        elif not write:
            connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )

    def ping(self) -> None:
        """Check the database answers.

        Raises:
            ServiceUnavailableError: it does not, with the reason and the (password-free) URL.
        """
        try:
            with self._engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except DBAPIError as exc:
            raise unavailable(self._engine.url, exc) from exc

    def watch(
        self, callback: Callable[[str, int], None], on_reconnect: Callable[[], None]
    ) -> Callable[[], None] | None:
        """On Postgres, listen for other replicas' events (``LISTEN``); ``None`` on SQLite."""
        if self._sqlite:
            return None
        listener = Listener(self._engine.url, callback, on_reconnect=on_reconnect)
        listener.start()
        return listener.stop

    def leadership(self, name: str) -> Leadership:
        """A handle on the replica-wide lock ``name`` (Postgres advisory lock; SQLite: always)."""
        return Leadership(self._engine, name)

    def close(self) -> None:
        """Close every pooled connection; the store can still reconnect if used again."""
        self._engine.dispose()


if TYPE_CHECKING:
    # mypy proves the implementation satisfies the protocols the service layer depends on.
    def _conforms(store: SqlStore, uow: SqlUnitOfWork) -> tuple[Store, UnitOfWork]:
        return store, uow
