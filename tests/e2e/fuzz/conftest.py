"""Fixtures of the fuzz tests: one live server per session and its schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import LiveServer, live_server


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz")) as server:
        yield server
