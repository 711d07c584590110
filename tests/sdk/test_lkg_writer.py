"""Writing the last-known-good file never holds up the events (issue 16: at 100,000 prompts a
write takes seconds, and every label move used to wait behind it), and a slow write spaces the
next ones out."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptstage import AsyncClient
from promptstage.sdk import core as sdk_core
from promptstage.sdk.lkg import read_lkg

from .helpers import FAST, PROJECT, V3, FakeServer, await_for, moved_snapshot, sse, wait_for

MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}


class SlowDisk:
    """Stands in for the file write: each write waits until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.writes = 0
        self.real = sdk_core.try_write_lkg

    def __call__(self, path: Any, snapshot: Any, etag: Any) -> str | None:
        self.writes += 1
        self.started.set()
        self.gate.wait(10)
        return self.real(path, snapshot, etag)


@pytest.fixture
def slow_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowDisk]:
    disk = SlowDisk()
    monkeypatch.setattr(sdk_core, "try_write_lkg", disk)
    yield disk
    disk.gate.set()


def async_client(server: FakeServer, path: Path) -> AsyncClient:
    options: dict[str, Any] = {**FAST, "transport": httpx.MockTransport(server.ahandler)}
    return AsyncClient("http://promptstage.test", PROJECT, "k", cache_path=path, **options)


def push_move(server: FakeServer) -> None:
    server.push(sse("version.created", {"prompt": "booking.system", "version": V3}, 2))
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 3))


def test_events_are_applied_while_the_file_is_being_written(
    make_client: Any, server: FakeServer, slow_disk: SlowDisk, tmp_path: Path
) -> None:
    path = tmp_path / "lkg.json"
    ps = make_client(cache_path=path)
    assert slow_disk.started.wait(2)  # the first write (after the snapshot) is under way
    push_move(server)
    assert wait_for(lambda: ps.get("booking.system").version == 3)
    assert not slow_disk.gate.is_set()  # served while the write still waits on the disk
    slow_disk.gate.set()
    ps.close()
    found = read_lkg(path)
    assert found is not None and found == (moved_snapshot(seq=3), '"3"')


def test_the_async_client_applies_events_while_the_file_is_being_written(
    server: FakeServer, slow_disk: SlowDisk, tmp_path: Path
) -> None:
    path = tmp_path / "lkg.json"

    async def main() -> None:
        async with async_client(server, path) as ps:
            assert await await_for(slow_disk.started.is_set)
            push_move(server)
            assert await await_for(lambda: ps.get("booking.system").version == 3)
            assert not slow_disk.gate.is_set()
            slow_disk.gate.set()

    asyncio.run(main())
    assert read_lkg(path) == (moved_snapshot(seq=3), '"3"')


def test_a_slow_write_spaces_out_the_next_ones(
    make_client: Any, server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sdk_core.try_write_lkg

    def slow(path: Any, snapshot: Any, etag: Any) -> str | None:
        time.sleep(0.2)
        return real(path, snapshot, etag)

    monkeypatch.setattr(sdk_core, "try_write_lkg", slow)
    ps = make_client(cache_path=tmp_path / "lkg.json")  # lkg_write_interval: 1 s
    core = ps._core
    assert wait_for(lambda: core._lkg_cost >= 0.2)
    core.lkg_dirty = True
    written = core._lkg_written_at
    assert not core.lkg_due(written + 1.5)  # 10x a 0.2 s write: not before 2 s
    assert core.lkg_due(written + 2.5)
    assert core.lkg_due(written + 0.5, force=True)


class FlakyDisk:
    """The first write raises (a bug below the SDK), the next ones write."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = sdk_core.try_write_lkg

    def __call__(self, path: Any, snapshot: Any, etag: Any) -> str | None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a disk driver bug")
        return self.real(path, snapshot, etag)


@pytest.fixture
def flaky_disk(monkeypatch: pytest.MonkeyPatch) -> FlakyDisk:
    disk = FlakyDisk()
    monkeypatch.setattr(sdk_core, "try_write_lkg", disk)
    return disk


def test_a_write_that_raises_is_logged_and_later_writes_go_on(
    make_client: Any,
    server: FakeServer,
    flaky_disk: FlakyDisk,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    disk = flaky_disk
    path = tmp_path / "lkg.json"
    ps = make_client(cache_path=path)
    assert wait_for(lambda: disk.calls >= 1)
    push_move(server)
    assert wait_for(lambda: ps.get("booking.system").version == 3)
    ps.close()
    assert read_lkg(path) == (moved_snapshot(seq=3), '"3"')
    assert "unexpected error writing the last-known-good file" in caplog.text
    assert "a disk driver bug" in caplog.text


def test_the_async_client_logs_a_write_that_raises_and_writes_on_close(
    server: FakeServer, flaky_disk: FlakyDisk, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = flaky_disk
    path = tmp_path / "lkg.json"

    async def main() -> None:
        async with async_client(server, path) as ps:
            assert await await_for(lambda: disk.calls >= 1)
            push_move(server)
            assert await await_for(lambda: ps.get("booking.system").version == 3)

    asyncio.run(main())
    assert read_lkg(path) == (moved_snapshot(seq=3), '"3"')
    assert "unexpected error writing the last-known-good file" in caplog.text
