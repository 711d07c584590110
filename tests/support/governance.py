"""A project ``acme`` (prompt ``greet``, versions 1-3, ``prod`` and ``staging`` on 1) with a key
per role, two releasers, a revoked key and a key of another project, on SQLite (and Postgres
when ``PROMPTSTAGE_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .templates import fresh_migrated_database

ADMIN = "ps_000000000000_" + "a" * 64
P = "/api/v1/projects/acme"
G = f"{P}/prompts/greet"
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


class Clock:
    """A settable clock, so expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


@dataclass
class World:
    runner: asyncio.Runner
    app: Any
    clock: Clock
    store: SqlStore
    keys: dict[str, str] = field(default_factory=dict)

    def call(self, who: str | None, method: str, path: str, **kwargs: Any) -> Any:
        token = ADMIN if who == "instance" else (self.keys[who] if who else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return self.runner.run(send())

    def ok(self, who: str | None, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.call(who, method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def label(self, name: str = "prod") -> int | None:
        labels: dict[str, int] = self.ok("instance", "GET", G)["labels"]
        return labels.get(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, migrated database of each backend: a SQLite file, or a Postgres database."""
    return fresh_migrated_database(request, request.param, tmp_path)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    store = SqlStore.from_url(database_url, migrate=True)
    clock = Clock()
    settings = Settings(
        admin_key=ADMIN,
        state_check_seconds=0.0,
        eval_gate=False,
        rate_limit_auth_failures=100_000,
        rate_limit_writes_per_key=100_000,
        rate_limit_writes_per_ip=100_000,
    )
    app = create_app(settings, store=store, clock=clock)
    runner = asyncio.Runner()
    w = World(runner, app, clock, store)
    w.ok("instance", "POST", "/api/v1/projects", 201, json={"name": "acme"})
    w.ok("instance", "POST", "/api/v1/projects", 201, json={"name": "other"})
    w.ok("instance", "POST", f"{P}/prompts", 201, json={"name": "greet", "type": "text"})
    for n in (1, 2, 3):
        w.ok(
            "instance",
            "POST",
            f"{G}/versions",
            201,
            json={"template": f"Hi v{n}", "config": {"model": MODEL}},
        )
    for label in ("prod", "staging"):
        w.ok(
            "instance", "PUT", f"{G}/labels/{label}", json={"version": 1, "expected_version": None}
        )
    for name, role in (
        ("runtime", "runtime"),
        ("editor", "editor"),
        ("releaser", "releaser"),
        ("releaser2", "releaser"),
        ("admin", "admin"),
        ("revoked", "editor"),
    ):
        w.keys[name] = w.ok(
            "instance", "POST", f"{P}/keys", 201, json={"role": role, "name": name}
        )["token"]
    w.keys["other"] = w.ok(
        "instance", "POST", "/api/v1/projects/other/keys", 201, json={"role": "admin"}
    )["token"]
    w.ok("instance", "DELETE", f"{P}/keys/{w.keys['revoked'].split('_')[1]}")
    try:
        yield w
    finally:
        runner.close()
        store.close()
