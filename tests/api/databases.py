"""Per-test databases of both backends, empty or holding a copy of the seed (``Seeded``).

Creating, migrating and seeding a database for every test would cost far more than the tests:
SQLite copies template files; Postgres keeps one database for the session and resets it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.pool import NullPool

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .client import ADMIN_KEY, Api, Seeded

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _with_admin_app(url: str, use: Callable[[Api], Any]) -> Any:
    store = SqlStore.from_url(url, migrate=True)
    try:
        with asyncio.Runner() as each:
            return use(
                Api(
                    each,
                    create_app(Settings(admin_key=ADMIN_KEY, eval_gate=False), store=store),
                    ADMIN_KEY,
                )
            )
    finally:
        store.close()


class SqliteDatabases:
    """Migrated (and seeded) template files, copied for each test."""

    def __init__(self, directory: Path) -> None:
        self.empty = directory / "empty.db"
        self.seeded = directory / "seeded.db"
        SqlStore.from_url(f"sqlite:///{self.empty}", migrate=True).close()
        shutil.copyfile(self.empty, self.seeded)
        self.keys: dict[str, str] = _with_admin_app(
            f"sqlite:///{self.seeded}", lambda a: Seeded.build(a).keys
        )

    def fresh(self, seeded: bool, directory: Path) -> str:
        path = directory / "promptstage.db"
        shutil.copyfile(self.seeded if seeded else self.empty, path)
        return f"sqlite:///{path}"


class PostgresDatabases:
    """One migrated database for the session, emptied (and re-seeded from a copy of the seed
    kept in schema ``seed``) before each test: far cheaper than creating and dropping one each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, str] = _with_admin_app(url, lambda a: Seeded.build(a).keys)
        self.engine = create_engine(url, poolclass=NullPool)
        meta = MetaData()
        meta.reflect(self.engine)
        self.tables = [t.name for t in meta.sorted_tables if t.name != "alembic_version"]
        with self.engine.begin() as connection:
            connection.exec_driver_sql("CREATE SCHEMA seed")
            for name in self.tables:
                connection.exec_driver_sql(f'CREATE TABLE seed."{name}" AS TABLE public."{name}"')
            # Tables guarded by triggers (the append-only audit) must be emptied by TRUNCATE.
            self.guarded = set(
                connection.exec_driver_sql(
                    "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND NOT t.tgisinternal"
                ).scalars()
            )
            self.sequences = connection.exec_driver_sql(
                "SELECT table_name, column_name, pg_get_serial_sequence(quote_ident(table_name), column_name) "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL"
            ).all()

    def fresh(self, seeded: bool) -> str:
        with self.engine.begin() as connection:
            if self.guarded:
                names = ", ".join(f'public."{name}"' for name in sorted(self.guarded))
                connection.exec_driver_sql(f"TRUNCATE {names}")
            for name in reversed(self.tables):  # DELETE: TRUNCATE is far slower on tiny tables
                if name not in self.guarded:
                    connection.exec_driver_sql(f'DELETE FROM public."{name}"')
            if seeded:
                for name in self.tables:
                    connection.exec_driver_sql(
                        f'INSERT INTO public."{name}" OVERRIDING SYSTEM VALUE SELECT * FROM seed."{name}"'
                    )
            for table_name, column, sequence in self.sequences:
                connection.exec_driver_sql(
                    f"SELECT setval('{sequence}', COALESCE((SELECT MAX(\"{column}\") "
                    f'FROM public."{table_name}"), 0) + 1, false)'
                )
        return self.url

    def close(self) -> None:
        self.engine.dispose()
