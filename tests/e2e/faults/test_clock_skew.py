"""Fault test 13: clocks that disagree or jump backwards never reorder prompt versions.

The SDK orders states by the server's sequence numbers only: an SDK whose wall clock jumps
hours back keeps following the server, and a snapshot older than the one held (a lagging
replica, or one serving from memory through a database outage) never replaces it. The server
side (the controller reads the database's clock) is covered by
``tests/service/test_controller.py::test_a_process_clock_hours_ahead_does_not_roll_back_early``.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from promptstage import Client
from promptstage.sdk import core

from ..scripted import Answer, Scripted
from ..servers import FAST, Api, ServerProcess, wait_for

HOURS = 3 * 3600.0


class _SkewedTime:
    """The ``time`` module as the SDK sees it, with a wall clock ``offset`` seconds off."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def time(self) -> float:
        return time.time() + self.offset

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _snapshot_answer(snapshot: dict[str, Any]) -> Answer:
    body = json.dumps(snapshot).encode()
    return 200, {"Content-Type": "application/json", "ETag": f'"{snapshot["seq"]}"'}, body


def test_an_sdk_clock_jumping_back_hours_still_follows_the_server_in_order(
    api: Api, shared_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    token, _ = api.key(project)
    with Client(shared_server.url, project, token, **FAST) as ps:
        assert ps.get("greet").version == v1
        assert wait_for(lambda: ps.status().state == "connected")
        seen: list[int] = []
        monkeypatch.setattr(core, "time", _SkewedTime(-HOURS))  # the SDK's clock jumps back
        for target in (v2, v1, v2):
            before = ps.status().last_seq or 0
            api.move(project, "greet", "prod", target)
            assert wait_for(lambda t=target: ps.get("greet").version == t, timeout=10)  # type: ignore[misc]
            seen.append(ps.status().last_seq or 0)
            assert seen[-1] > before
        assert seen == sorted(seen), f"sequence went backwards: {seen}"
        synced = ps.status().last_sync_at
        assert synced is not None  # reported from the skewed clock; nothing depends on it


def test_an_older_snapshot_never_replaces_a_newer_one(api: Api, scripted: list[Scripted]) -> None:
    project, (_, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    older = api.snapshot(project)
    api.move(project, "greet", "prod", v2)
    newer = api.snapshot(project)
    assert newer["seq"] > older["seq"]
    # A replica behind (or serving from memory through an outage) answers the older state,
    # stamped with any clock: only the sequence number counts.
    server = Scripted({"snapshot": [_snapshot_answer(newer), _snapshot_answer(older)]})
    scripted.append(server)
    options = {**FAST, "stream": False, "poll_interval": 0.05, "backoff_max": 0.1}
    with Client(server.url, project, "ps_abc_def", **options) as ps:
        assert ps.get("greet").version == v2
        assert wait_for(lambda: len(server.seen["snapshot"]) >= 4, timeout=10)
        assert ps.get("greet").version == v2, "a lagging replica rolled the client back"
        status = ps.status()
        assert status.last_seq == newer["seq"]
        assert f"older than the state held (seq {newer['seq']})" in (status.last_error or "")
