"""A real promptstage server (uvicorn in a thread, on SQLite) with a fast release controller."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from promptstage.server import create_app
from promptstage.settings import Settings

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


@dataclass(frozen=True)
class Server:
    url: str
    admin: str

    def api(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {self.admin}"},
            timeout=10,
            **kwargs,
        )
        assert response.status_code == status, (method, path, response.text)
        return response.json()


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it answers something truthy, and return that; fail the test with
    ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def running_server(database_url: str) -> Iterator[Server]:
    """A uvicorn server on ``database_url`` in a thread, controller every 0.2 s."""
    admin = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    settings = Settings(
        database_url=database_url,
        admin_key=admin,
        eval_gate=False,
        controller_interval=0.2,
        webhook_poll_seconds=0.1,
        webhook_backoff_seconds=0.1,
        rate_limit_writes_per_key=0,
        rate_limit_writes_per_ip=0,
        webhook_allowed_hosts="127.0.0.1",
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", ws="none", access_log=False
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", admin)
    finally:
        instance.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A live server on a SQLite file."""
    database: Path = tmp_path_factory.mktemp("live") / "db.sqlite"
    with running_server(f"sqlite:///{database}") as live:
        yield live


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def any_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A live server on each backend (Postgres: the controller leads through the advisory lock)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'db.sqlite'}"
    else:
        url = request.getfixturevalue("make_postgres_database")()
    with running_server(url) as live:
        yield live
