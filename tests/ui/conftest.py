"""Fixtures of the UI's in-process tests: the app on a SQLite file with a clock the test moves,
a project ``shop`` with people of each role, and a browser-like client (cookies kept,
redirects not followed).

Migrating a database and argon2-hashing four passwords for every test would cost more than
most tests: the session builds one seeded template file and each test copies it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from promptstage.server import create_app
from promptstage.service import controller, prompts, users
from promptstage.service.context import Context
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

ADMIN_KEY = "ps_0123456789ab_" + "c" * 64
PASSWORD = "correct horse battery staple"
PROJECT = "shop"
PEOPLE = {"erin": "editor", "alice": "releaser", "bob": "releaser", "ada": "admin"}


class Clock:
    """A clock the test moves forward."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Ui:
    """The app under test and what the tests need to reach around it."""

    app: FastAPI
    ctx: Context
    clock: Clock

    def client(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.app, base_url=base_url, follow_redirects=False)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _settings(**settings: Any) -> Settings:
    values: dict[str, Any] = {
        "admin_key": ADMIN_KEY,
        "state_check_seconds": 0.0,
        "eval_gate": False,  # tests of other features; gate tests turn it on
        **settings,
    }
    return Settings(**values)


@pytest.fixture(autouse=True)
def _controller_on_the_test_clock(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    """The app's background controller (the browser fixture runs the lifespan; it looks once at
    startup) reads the test's clock, not the database's: a look at the real time of day saw a
    release started at the test clock's 09:00 as hours old and rolled it back (a CI race)."""
    real = controller.run_once

    def on_test_clock(ctx: Context, now: datetime | None = None, **kwargs: Any) -> Any:
        return real(ctx, now if now is not None else clock(), **kwargs)

    monkeypatch.setattr(controller, "run_once", on_test_clock)


@pytest.fixture(scope="session")
def seeded_ui_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding project ``shop`` and :data:`PEOPLE`, seeded at the
    start time of :class:`Clock` (as a test's own seeding would be), copied by each test."""
    path = tmp_path_factory.mktemp("ui-template") / "seeded.sqlite"
    store = SqlStore.from_url(f"sqlite:///{path}", migrate=True)
    try:
        ctx: Context = create_app(_settings(), store=store, clock=Clock()).state.ctx
        prompts.create_project(ctx, "test", PROJECT)
        for name, role in PEOPLE.items():
            users.create_user(ctx, "test", PROJECT, name, PASSWORD, role)
    finally:
        store.close()
    return path


@pytest.fixture
def make_ui(tmp_path: Path, clock: Clock, seeded_ui_database: Path) -> Iterator[Callable[..., Ui]]:
    """``make_ui(**settings)``: the app with project ``shop`` and :data:`PEOPLE`; a second
    call opens another app on the same database."""
    stores: list[SqlStore] = []
    path = tmp_path / "ui.sqlite"

    def make(**settings: Any) -> Ui:
        if not path.exists():
            shutil.copyfile(seeded_ui_database, path)
        store = SqlStore.from_url(f"sqlite:///{path}", migrate=True)
        stores.append(store)
        app = create_app(_settings(**settings), store=store, clock=clock)
        return Ui(app, app.state.ctx, clock)

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def ui(make_ui: Callable[..., Ui]) -> Ui:
    return make_ui()


@pytest.fixture
def browser(ui: Ui) -> Iterator[TestClient]:
    """A client that keeps cookies like a browser (and runs the app's lifespan)."""
    with ui.client() as client:
        yield client


def sign_in_token(client: TestClient) -> str:
    """Open the sign-in form and return its double-submit token."""
    page = client.get("/ui/sign-in")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Post the sign-in form as a browser would; return the answer."""
    token = sign_in_token(client)
    return client.post(
        "/ui/sign-in", data={"csrf": token, "name": name, "password": password, "next": "/ui/"}
    )


def csrf_of(client: TestClient, path: str = "/ui/") -> str:
    """The CSRF token a signed-in page carries in its forms."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)
