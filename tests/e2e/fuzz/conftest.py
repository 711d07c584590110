"""Fixtures of the fuzz tests: one live, seeded server per session and its schema; the reach
of the run is printed at the end of the session (reach.py says what "reached" means)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .hooks import use_seeds
from .server import LiveServer, fuzzed_operations, live_server

_servers: list[LiveServer] = []


@pytest.fixture(scope="session")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("fuzz")) as server:
        _servers.append(server)
        yield server


@pytest.fixture(autouse=True)
def _seeds_of_the_server_under_test(request: pytest.FixtureRequest) -> None:
    """Generated path parameters name the objects of the server this test fuzzes."""
    for name in ("faulty_server", "fuzz_server"):
        if name in request.fixturenames:
            use_seeds(request.getfixturevalue(name).seeds)
            return


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each operation's schemathesis item its own node id (``test_api[GET /healthz]``).

    Schemathesis names the items apart but gives them all the test function's node id, and
    pytest-xdist schedules by node id: it would run one operation of the 87 and drop the rest.
    """
    for item in items:
        named_apart = isinstance(item, pytest.Function) and item.name != item.originalname
        if named_apart and item.nodeid.endswith(f"::{item.originalname}") and item.parent:
            item._id = item.parent.id.child(item.name)  # how pytest names any parametrized item


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for server in _servers:
        terminalreporter.write_line(server.reach.summary(fuzzed_operations()))
