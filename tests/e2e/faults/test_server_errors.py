"""Fault test 4: a server answering 5xx, 429 and 408 on ``snapshot`` and ``events``.

A scripted HTTP server (a real socket, a thread of this process) answers from a script and
records when each request came; a real ``promptstage.Client`` serves its state all along,
backs off with jitter, and never retries before the server's ``Retry-After``.
"""

from __future__ import annotations

import itertools
import json
import time

from promptstage import Client

from ..scripted import Answer, Scripted
from ..servers import FAST, Api, wait_for


def _error(status: int, retry_after: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    body = json.dumps({"error": {"code": "x", "message": f"scripted {status}"}}).encode()
    return status, headers, body


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_snapshot_errors_back_off_with_jitter_and_honour_retry_after(
    api: Api, scripted: list[Scripted]
) -> None:
    project, (v1,) = api.setup()
    snapshot = api.snapshot(project)
    script = [
        _error(503, "1"),
        _error(429, "1"),
        _error(408),
        _error(500),
        _error(502),
        _error(503),
    ]
    server = Scripted({"snapshot": script})
    scripted.append(server)
    options = {**FAST, "backoff_initial": 0.2, "backoff_max": 0.4, "init_timeout": 0.5}
    with Client(server.url, project, "ps_abc_def", bootstrap=snapshot, **options) as ps:
        assert ps.get("greet").version == v1
        started = time.monotonic()
        while time.monotonic() - started < 4.0:
            assert ps.get("greet").version == v1  # served all along
            time.sleep(0.05)
        status = ps.status()
        assert status.state == "stale" and "answered 50" in (status.last_error or "")
    times = server.seen["snapshot"]
    gaps = _gaps(times)
    # After a Retry-After: 1 answer (503, then 429), never sooner than one second.
    assert gaps[0] >= 0.95 and gaps[1] >= 0.95, gaps
    # Without Retry-After: capped exponential backoff, each delay drawn from [d/2, d].
    assert all(0.09 <= g <= 0.4 + 0.25 for g in gaps[2:]), gaps
    assert len({round(g, 3) for g in gaps[2:]}) > 1, "no jitter"
    # 4 s of errors: 2 s spent on Retry-After, the rest at >= 0.1 s apart; never a hammering.
    assert 5 <= len(times) <= 2 + 2.0 / 0.1 + 1, len(times)


def test_events_errors_honour_retry_after_while_the_state_is_served(
    api: Api, scripted: list[Scripted]
) -> None:
    project, (v1,) = api.setup()
    snapshot = api.snapshot(project)
    body = json.dumps(snapshot).encode()
    ok: Answer = (200, {"Content-Type": "application/json", "ETag": f'"{snapshot["seq"]}"'}, body)
    server = Scripted({"snapshot": [ok], "events": [_error(503, "1"), _error(429, "1")]})
    scripted.append(server)
    options = {**FAST, "backoff_initial": 0.05, "backoff_max": 0.1}
    with Client(server.url, project, "ps_abc_def", **options) as ps:
        assert ps.get("greet").version == v1
        # Reported while the errors last (a later stream that opens clears it: CI once read it
        # just after the third request had succeeded).
        assert wait_for(lambda: "GET /events" in (ps.status().last_error or ""), timeout=6)
        assert wait_for(lambda: len(server.seen.get("events", [])) >= 3, timeout=6)
        assert ps.get("greet").version == v1
    gaps = _gaps(server.seen["events"])
    assert all(g >= 0.95 for g in gaps), gaps
    assert len(server.seen["events"]) <= 5
