"""Fixtures of the integration tests: real server processes, a fault proxy, admin API access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .proxy import FaultProxy
from .scripted import Scripted
from .servers import Api, ServerProcess


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``promptstage serve`` process on a SQLite file for the tests that never stop it
    (each of them works in its own project)."""
    folder = tmp_path_factory.mktemp("shared-server")
    server = ServerProcess(f"sqlite:///{folder / 'db.sqlite'}", folder).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api(shared_server: ServerProcess) -> Iterator[Api]:
    """Admin API access to the shared server."""
    client = shared_server.api()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process of this test alone (not started), on a SQLite file in ``tmp_path``."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def make_proxy() -> Iterator[Callable[[int], FaultProxy]]:
    """``make_proxy(upstream_port)``: a started :class:`FaultProxy`, closed after the test."""
    proxies: list[FaultProxy] = []

    def make(port: int) -> FaultProxy:
        proxy = FaultProxy(port).start()
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.fixture
def scripted() -> Iterator[list[Scripted]]:
    """Scripted HTTP servers the test appends to ``scripted``, shut down after it."""
    servers: list[Scripted] = []
    try:
        yield servers
    finally:
        for server in servers:
            server.close()
