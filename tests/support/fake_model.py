"""The fake model server (``promptstage.cli.fake_model``) on uvicorn in a thread, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from promptstage.cli.fake_model import FakeModelState, fake_model_app


@dataclass(frozen=True)
class FakeModel:
    url: str
    state: FakeModelState

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url


@contextlib.contextmanager
def running_fake_model(behaviour: str = "refuse", **options: Any) -> Iterator[FakeModel]:
    """A fake model server in a thread; ``options`` go to ``fake_model_app``."""
    app = fake_model_app(behaviour, **options)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the fake model did not start"
        time.sleep(0.02)
    try:
        yield FakeModel(f"http://127.0.0.1:{port}", app.state.fake)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
