"""End to end on a real server (uvicorn in a thread, controller every 0.2 s) with real SDK
clients: a bad candidate is rolled back automatically and every client serves the baseline
again; a good candidate ramps and the label moves; a label rollback mid-release stops it."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from promptstage import Client
from promptstage.domain.releases import CONTROLLER_ACTOR
from promptstage.domain.webhooks import SIGNATURE_HEADER, verify
from support import live
from support.live import MODEL, Server, until
from support.receiver import receiver

pytestmark = pytest.mark.slow
server = live.any_server  # the fixture: a live server on SQLite and on Postgres


@pytest.fixture
def project(server: Server) -> str:
    """A project with prompt ``agent`` (versions 1 and 2), ``prod`` -> 1."""
    name = f"e2e-{secrets.token_hex(3)}"
    server.api("POST", "/api/v1/projects", 201, json={"name": name})
    p = f"/api/v1/projects/{name}"
    server.api("POST", f"{p}/prompts", 201, json={"name": "agent", "type": "text"})
    for n in (1, 2):
        server.api(
            "POST",
            f"{p}/prompts/agent/versions",
            201,
            json={"template": f"v{n}", "config": {"model": MODEL}},
        )
    server.api(
        "PUT", f"{p}/prompts/agent/labels/prod", json={"version": 1, "expected_version": None}
    )
    return name


@pytest.fixture
def clients(server: Server, project: str) -> Iterator[list[Client]]:
    made = [
        Client(server.url, project, server.admin, flush_interval=0.05, init_timeout=5)
        for _ in range(3)
    ]
    try:
        yield made
    finally:
        for c in made:
            c.close()


def served(clients: list[Client], units: int = 200) -> set[int]:
    return {
        c.get("agent", label="prod", unit=f"u{i}").version for c in clients for i in range(units)
    }


def sees(clients: list[Client], release_id: str) -> bool:
    return all(
        any(c.get("agent", label="prod", unit=f"u{i}").release_id == release_id for i in range(100))
        for c in clients
    )


def drive(client: Client, first: int, count: int, *, bad: bool) -> None:
    for i in range(first, first + count):
        p = client.get("agent", label="prod", unit=f"user-{i}")
        try:
            with client.call(p) as call:
                if bad and p.arm == "canary":
                    raise RuntimeError("the candidate crashed")
                call.finish(output="ok", cost=0.001)
        except RuntimeError:
            pass
    assert client.flush(5)


def test_a_bad_candidate_is_rolled_back_automatically(
    server: Server, project: str, clients: list[Client]
) -> None:
    p = f"/api/v1/projects/{project}"
    with receiver() as hook:
        secret = server.api(
            "POST", f"{p}/webhooks", 201, json={"url": hook.url, "events": ["release.rolled_back"]}
        )["secret"]
        release = server.api(
            "POST",
            f"{p}/releases",
            201,
            json={"prompt": "agent", "label": "prod", "candidate_version": 2, "strategy": "canary"},
        )
        rid = release["id"]
        until(lambda: sees(clients, rid), 5, "the SDKs to see the release")
        assert served(clients) == {1, 2}
        drive(clients[0], 0, 1500, bad=True)
        ended = until(
            lambda: (r := server.api("GET", f"{p}/releases/{rid}"))["state"] != "running" and r,
            10,
            "the controller to act",
        )
        assert ended["state"] == "rolled_back", ended["reason"]
        assert "fast-path" in ended["reason"]
        assert ended["history"][-1]["actor"] == CONTROLLER_ACTOR
        until(lambda: served(clients) == {1}, 3, "every client to serve the baseline")
        assert hook.arrived.wait(5)
        got = hook.received[0]
        assert verify(secret, got.headers[SIGNATURE_HEADER], got.body, now=time.time())
        assert json.loads(got.body)["data"]["release"]["state"] == "rolled_back"
    audit = server.api("GET", f"{p}/audit?limit=20")["items"]
    assert any(a["actor"] == CONTROLLER_ACTOR and a["action"] == "release.rollback" for a in audit)


def test_a_good_candidate_ramps_and_the_label_moves(
    server: Server, project: str, clients: list[Client]
) -> None:
    p = f"/api/v1/projects/{project}"
    steps = [
        {"weight_bps": w, "min_duration_seconds": 0.3, "min_units": 20} for w in (1000, 5000, 10000)
    ]
    rid = server.api(
        "POST",
        f"{p}/releases",
        201,
        json={
            "prompt": "agent",
            "label": "prod",
            "candidate_version": 2,
            "strategy": "ramp",
            "steps": steps,
            "guardrails": [{"metric": "error_rate", "min_units": 20}],
        },
    )["id"]
    until(lambda: sees(clients, rid), 5, "the SDKs to see the release")
    first = 0

    def progressed() -> Any:
        nonlocal first
        drive(clients[0], first, 300, bad=False)
        first += 300
        r = server.api("GET", f"{p}/releases/{rid}")
        return r if r["state"] != "running" else None

    done = until(progressed, 15, "the ramp to complete")
    assert done["state"] == "completed", done["reason"]
    assert [h["action"] for h in done["history"]] == ["start", "advance", "promote"]
    assert server.api("GET", f"{p}/prompts/agent")["labels"]["prod"] == 2
    until(lambda: served(clients) == {2}, 3, "every client to serve the candidate")


def test_a_label_rollback_mid_release_stops_it(
    server: Server, project: str, clients: list[Client]
) -> None:
    p = f"/api/v1/projects/{project}"
    rid = server.api(
        "POST",
        f"{p}/releases",
        201,
        json={"prompt": "agent", "label": "prod", "candidate_version": 2, "strategy": "ab"},
    )["id"]
    until(lambda: sees(clients, rid), 5, "the SDKs to see the release")
    body = server.api("POST", f"{p}/prompts/agent/labels/prod/rollback", json={"reason": "stop"})
    assert body["release_rolled_back"] is True
    assert server.api("GET", f"{p}/releases/{rid}")["state"] == "rolled_back"
    until(lambda: served(clients) == {1}, 3, "every client to serve the baseline")
