"""Fixtures of the audit tests: migrated stores on SQLite and Postgres, a service context, a
superuser-style tamper helper, and an in-process API client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Executable, create_engine, text
from sqlalchemy.pool import NullPool

from promptstage.domain.checkpoint import generate_private_key
from promptstage.server import create_app
from promptstage.service import labels, prompts
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.tables import metadata

ADMIN_KEY = "ps_auditadmin_" + "0123456789abcdef" * 4
PROJECT = "clinic"
ACTOR = "key:test"
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
TRIGGER = "audit_append_only"


class StepClock:
    """A clock that moves one second per reading, so every change has its own instant."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="session")
def audit_postgres_url(postgres_url: str) -> str:
    """The session's shared Postgres database, migrated; emptied before each test (creating
    and dropping a database per test would be far slower)."""
    upgrade_database(postgres_url)
    return postgres_url


def empty_postgres(url: str) -> str:
    """Empty every table (TRUNCATE: the append-only trigger guards rows, not the table)."""
    names = ", ".join(table.name for table in metadata.sorted_tables)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'promptstage.db'}"
        upgrade_database(url)
        return url
    return empty_postgres(request.getfixturevalue("audit_postgres_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[SqlStore]:
    """A migrated store, closed after the test."""
    opened = SqlStore.from_url(database_url, migrate=True)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def ctx(store: SqlStore) -> Context:
    """A service context on ``store`` with a stepping clock."""
    return Context(store=store, bus=EventBus(), clock=StepClock())


def populate(ctx: Context, moves: int = 3) -> None:
    """A project, a prompt with three versions and a few label moves (seq 1..5+moves)."""
    prompts.create_project(ctx, ACTOR, PROJECT, "demo")
    prompts.create_prompt(ctx, ACTOR, PROJECT, "greet", "text")
    for n in range(1, 4):
        prompts.write_version(
            ctx, ACTOR, PROJECT, "greet", template=f"Hello {{{{ name }}}} #{n}",
            config={"model": MODEL, "params": {"temperature": n / 10}}, message=f"v{n}",
        )  # fmt: skip
    for i in range(moves):
        labels.move_label(ctx, ACTOR, PROJECT, "greet", "prod", 1 + (i + 1) % 3, reason=f"move {i}")


def tamper(store: SqlStore, *statements: str | Executable, **params: Any) -> None:
    """Run raw SQL on the audit table as a superuser would: on Postgres, with the append-only
    trigger disabled for the duration (``ALTER TABLE ... DISABLE TRIGGER`` needs the owner)."""
    with store.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql(f"ALTER TABLE audit DISABLE TRIGGER {TRIGGER}")
        for statement in statements:
            connection.execute(text(statement) if isinstance(statement, str) else statement, params)
        if postgres:
            connection.exec_driver_sql(f"ALTER TABLE audit ENABLE TRIGGER {TRIGGER}")


class Api:
    """A synchronous client of one in-process app (``httpx.ASGITransport``)."""

    def __init__(self, runner: asyncio.Runner, app: FastAPI, token: str | None = ADMIN_KEY) -> None:
        self.runner = runner
        self.app = app
        self.token = token

    def as_key(self, token: str | None) -> Api:
        return Api(self.runner, self.app, token)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return self.runner.run(send())


@pytest.fixture
def signing_key() -> str:
    return generate_private_key()


@pytest.fixture
def make_api(store: SqlStore) -> Iterator[Callable[..., Api]]:
    """``make_api(**settings)``: an admin client of an app on the test's store."""
    with asyncio.Runner() as runner:

        def make(**settings: Any) -> Api:
            app = create_app(
                Settings(admin_key=ADMIN_KEY, eval_gate=False, **settings), store=store
            )
            return Api(runner, app)

        yield make
