"""Fixtures of the hardening tests: apps on SQLite and Postgres, an injectable clock, clients with a chosen IP."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .templates import fresh_migrated_database

ADMIN_KEY = "ps_hardening_" + "0123456789abcdef" * 4
BASE = "/api/v1/projects"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, migrated database of each backend: a SQLite file, or a Postgres database."""
    return fresh_migrated_database(request, request.param, tmp_path)


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[], SqlStore]]:
    """Open (and migrate) stores on the test's database; all closed after the test."""
    opened: list[SqlStore] = []

    def make() -> SqlStore:
        opened.append(SqlStore.from_url(database_url, migrate=True))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as each:
        yield each


class FakeClock:
    """A clock the test moves by hand (``create_app(clock=...)``)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_clocked_app(make_store: Callable[[], SqlStore]) -> Callable[..., FastAPI]:
    """``make_clocked_app(clock=None, monotonic=None, **settings)``: an app on the test's
    database (``monotonic`` measures the key cache's lifetime)."""

    def make(
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] | None = None,
        **settings: Any,
    ) -> FastAPI:
        values: dict[str, Any] = {
            "admin_key": ADMIN_KEY,
            "state_check_seconds": 0.0,
            "eval_gate": False,  # tests of other features
            **settings,
        }
        return create_app(Settings(**values), store=make_store(), clock=clock, monotonic=monotonic)

    return make


class Caller:
    """Sends requests to an in-process app from a chosen client IP."""

    def __init__(self, runner: asyncio.Runner) -> None:
        self.runner = runner

    def __call__(
        self,
        app: FastAPI,
        method: str,
        path: str,
        *,
        token: str | None = None,
        ip: str = "127.0.0.1",
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))

        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return self.runner.run(send())


@pytest.fixture
def call(runner: asyncio.Runner) -> Caller:
    return Caller(runner)


def random_ip() -> str:
    """A client IP no other test (or run sharing a Redis) uses."""
    return "10." + ".".join(str(secrets.randbelow(254) + 1) for _ in range(3))


def random_token() -> str:
    return f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
