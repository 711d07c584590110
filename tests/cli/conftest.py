"""A real promptstage server on a free local port, and a runner for the CLI against it."""

from __future__ import annotations

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
from typer.testing import CliRunner, Result

from promptstage.cli.main import app
from promptstage.server import create_app
from promptstage.settings import Settings

ENV_NAMES = ("PROMPTSTAGE_URL", "PROMPTSTAGE_API_KEY", "PROMPTSTAGE_PROJECT", "PROMPTSTAGE_JSON")


@dataclass(frozen=True)
class LiveServer:
    url: str
    admin_key: str
    database: Path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A uvicorn server in a background thread, on a SQLite file, with a fixed admin key."""
    tmp = tmp_path_factory.mktemp("cli-server")
    database = tmp / "db.sqlite"
    admin_key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    settings = Settings(database_url=f"sqlite:///{database}", admin_key=admin_key, eval_gate=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws="none",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", admin_key, database)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def project(live_server: LiveServer) -> str:
    """A fresh project on the live server (created through the API, not the CLI)."""
    name = f"p-{secrets.token_hex(4)}"
    response = httpx.post(
        f"{live_server.url}/api/v1/projects",
        json={"name": name},
        headers={"Authorization": f"Bearer {live_server.admin_key}"},
    )
    response.raise_for_status()
    return name


CliRun = Callable[..., Result]


@pytest.fixture
def cli(live_server: LiveServer, project: str) -> CliRun:
    """Run ``promptstage ARGS...`` against the live server as instance admin in ``project``.

    Keyword ``env`` overrides (``None`` unsets) the variables; ``input`` feeds stdin.
    """
    runner = CliRunner()

    def run(*args: str, env: dict[str, str | None] | None = None, **kwargs: Any) -> Result:
        environ: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
        environ.update(
            PROMPTSTAGE_URL=live_server.url,
            PROMPTSTAGE_API_KEY=live_server.admin_key,
            PROMPTSTAGE_PROJECT=project,
            COLUMNS="200",
            NO_COLOR="1",
        )
        environ.update(env or {})
        result = runner.invoke(app, list(args), env=environ, **kwargs)
        # Failures must be clean exits, never a Python traceback.
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result

    return run


CHAT_TOML = """\
name = "booking.system"
type = "chat"
description = "Books appointments"
tags = ["booking"]
template = [
  { role = "system", content = "You book appointments for {{ clinic }}." },
  { role = "user", content = "{{ question }}" },
]
variables = [
  { name = "clinic", type = "string" },
  { name = "question", type = "string" },
]

[config.model]
provider = "openai"
name = "gpt-4o"
version = "2024-08-06"

[config.params]
temperature = 0.2
"""


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    """A valid chat prompt file (TOML)."""
    path = tmp_path / "booking.toml"
    path.write_text(CHAT_TOML, encoding="utf-8")
    return path
