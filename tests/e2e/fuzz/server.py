"""A real promptstage server for fuzzing: uvicorn in a thread, a SQLite file, the demo project."""

from __future__ import annotations

import base64
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from promptstage.domain.langfuse import key_pair
from promptstage.server import create_app
from promptstage.service.demo import seed_demo
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .reach import Reach, instrument
from .seed import seed_objects

# /events is an endless stream (its SSE behaviour has its own tests in tests/sdk and tests/api).
EXCLUDED_PATHS = r"/events$"


@dataclass(frozen=True)
class LiveServer:
    """Where the server listens and the instance admin key it accepts."""

    url: str
    admin_key: str
    seeds: dict[str, list[Any]]  # per path parameter, values naming objects that exist
    reach: Reach  # which operations' handlers the requests reached (reach.py)
    project_key: str  # a releaser key of the demo project: the Langfuse API's own project

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def headers_for(self, path: str) -> dict[str, str]:
        """The admin key, or on the Langfuse API (``/api/public/``, whose project is the key's
        own) the demo project's key as a Langfuse pair over HTTP Basic."""
        if not path.startswith("/api/public/"):
            return self.auth_header
        pair = ":".join(key_pair(self.project_key)).encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}


@contextmanager
def live_server(directory: Path, database_url: str | None = None) -> Iterator[LiveServer]:
    """Serve on a free port until the block ends; rate limits off (the fuzzer is one client).
    ``database_url``: default a SQLite file in ``directory``."""
    admin_key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    settings = Settings(
        database_url=database_url or f"sqlite:///{directory / 'fuzz.db'}",
        admin_key=admin_key,
        eval_gate=False,
        audit_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        rate_limit_auth_failures=0,
        rate_limit_writes_per_key=0,
        rate_limit_writes_per_ip=0,
        # Webhooks the fuzzer invents must never be called: only loopback may be a target.
        webhook_allowed_hosts="127.0.0.1",
        # Eval runs the fuzzer starts call a model: a closed port of loopback, never the internet.
        eval_openai_base_url="http://127.0.0.1:9/v1",
        eval_anthropic_base_url="http://127.0.0.1:9",
        eval_max_attempts=1,
    )
    app = create_app(settings)
    releasers = seed_demo(app.state.ctx)
    reach = Reach()
    asgi = instrument(app, reach)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        asgi,
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
            raise RuntimeError("the fuzz server did not start")
        time.sleep(0.02)
    try:
        url = f"http://127.0.0.1:{port}"
        seeds = seed_objects(url, admin_key, releasers)
        reach.reset()  # the seeding's own requests do not count
        yield LiveServer(url, admin_key, seeds, reach, project_key=releasers[-1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def fuzzed_operations() -> list[str]:
    """``METHOD /path`` of every operation the fuzz runs send requests to."""
    return [
        f"{method.upper()} {path}"
        for path, methods in openapi_document()["paths"].items()
        if not re.search(EXCLUDED_PATHS, path)
        for method in methods
    ]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document the server serves, built in-process (no database is opened), so
    schemathesis can parametrize tests at collection time, before any server runs."""
    store = SqlStore.from_url("sqlite://")
    try:
        return create_app(Settings(), store=store).openapi()
    finally:
        store.close()
