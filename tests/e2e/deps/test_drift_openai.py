"""Drift end to end: the REAL ``openai`` client against a local fake model that answers with
another model than the version pinned; the SDK records ``response.model``, the server counts
the mismatch per label, shows it on the version and in ``/metrics``, sends a ``deps.drift``
webhook, and holds (or rolls back) the release whose canary runs on the untested model."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from promptstage import Client
from support import live
from support.fake_model import FakeModel, running_fake_model
from support.live import Server, until
from support.receiver import receiver

pytestmark = pytest.mark.slow
server = live.any_server  # a live server on SQLite and on Postgres

SERVED = "gpt-4o-2024-11-20"  # what the provider answers with; 2024-08-06 is pinned


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModel]:
    with running_fake_model("refuse", served_model=SERVED) as model:
        yield model


@pytest.fixture
def llm(fake: FakeModel) -> Iterator[openai.OpenAI]:
    """The real openai client, pointed at the fake model on 127.0.0.1."""
    with (
        httpx.Client(trust_env=False) as http,
        openai.OpenAI(
            base_url=fake.openai_base_url, api_key="sk-test", max_retries=0, http_client=http
        ) as client,
    ):
        yield client


@pytest.fixture
def project(server: Server) -> str:
    """``agent`` v1 and v2 pinning the catalogued model and index by reference; prod -> 1."""
    name = f"drift-{secrets.token_hex(3)}"
    server.api("POST", "/api/v1/projects", 201, json={"name": name})
    p = f"/api/v1/projects/{name}"
    server.api(
        "POST",
        f"{p}/deps",
        201,
        json={"kind": "model", "name": "openai/gpt-4o", "version": "2024-08-06"},
    )
    server.api("POST", f"{p}/deps", 201, json={"kind": "index", "name": "kb", "version": "7"})
    server.api("POST", f"{p}/prompts", 201, json={"name": "agent", "type": "text"})
    config = {"model": {"model": "openai/gpt-4o@2024-08-06"}, "retrieval": {"index": "kb@7"}}
    for n in (1, 2):
        server.api(
            "POST",
            f"{p}/prompts/agent/versions",
            201,
            json={"template": f"v{n}: answer {{{{ q }}}}", "config": config},
        )
    server.api(
        "PUT", f"{p}/prompts/agent/labels/prod", json={"version": 1, "expected_version": None}
    )
    return name  # fmt: skip


def drive(ps: Client, llm: openai.OpenAI, first: int, count: int) -> None:
    """Serve ``count`` units through the real openai client, recording what actually ran."""
    for i in range(first, first + count):
        p = ps.get("agent", label="prod", unit=f"user-{i}")
        m = p.config.model
        with ps.call(p) as call:
            response = llm.chat.completions.create(
                model=f"{m.name}-{m.version}",
                messages=[{"role": "user", "content": p.render(q="hours?")}],
            )
            call.finish(
                output=response.choices[0].message.content,
                model=response.model,
                index="kb@7",
            )
    assert ps.flush(5)


def start(server: Server, p: str, on_drift: str) -> str:
    steps = [{"weight_bps": w, "min_duration_seconds": 0.3, "min_units": 5} for w in (5000, 10000)]
    body = {"prompt": "agent", "label": "prod", "candidate_version": 2, "strategy": "ramp",
            "steps": steps, "guardrails": [], "on_drift": on_drift}  # fmt: skip
    rid: str = server.api("POST", f"{p}/releases", 201, json=body)["id"]
    return rid


def test_the_provider_serving_another_model_is_drift_and_holds_the_canary(
    server: Server, project: str, fake: FakeModel, llm: openai.OpenAI
) -> None:
    p = f"/api/v1/projects/{project}"
    ps = Client(server.url, project, server.admin, flush_interval=0.05, init_timeout=5)
    with receiver() as hook:
        server.api("POST", f"{p}/webhooks", 201, json={"url": hook.url, "events": ["deps.drift"]})
        try:
            drive(ps, llm, 0, 5)
            rid = start(server, p, "hold")
            until(lambda: ps.get("agent", label="prod", unit="x").release_id == rid or
                  any(ps.get("agent", label="prod", unit=f"u{i}").release_id == rid
                      for i in range(50)), 5, "the SDK to see the release")  # fmt: skip
            deadline = time.monotonic() + 3  # long enough to pass both 0.3 s steps
            first = 5
            while time.monotonic() < deadline:
                drive(ps, llm, first, 20)
                first += 20
        finally:
            ps.close()
        assert fake.state.bodies[-1]["model"] == "gpt-4o-2024-08-06"  # the pinned one was asked
        release = server.api("GET", f"{p}/releases/{rid}")
        assert release["state"] == "running" and release["step_index"] == 0, release
        assert "the canary runs on an untested model" in release["reason"]
        assert f"observed {SERVED}" in release["reason"]

        for version in (1, 2):
            items = server.api("GET", f"{p}/prompts/agent/versions/{version}/drift")["items"]
            assert [(d["label"], d["kind"], d["expected"], d["observed"]) for d in items] == [
                ("prod", "model", "openai/gpt-4o@2024-08-06", SERVED)
            ]
            assert items[0]["count"] >= 1
        auth = {"Authorization": f"Bearer {server.admin}"}  # /metrics: the instance admin
        metrics = httpx.get(f"{server.url}/metrics", headers=auth).text
        assert (f'promptstage_deps_drift_calls_total{{project="{project}",prompt="agent",'
                'label="prod",kind="model"}') in metrics  # fmt: skip

        assert until(lambda: len(hook.received) >= 2, 5, "the deps.drift webhooks")
        sent = [json.loads(r.body) for r in hook.received]
        assert {(s["type"], s["data"]["version"], s["data"]["observed"]) for s in sent} == {
            ("deps.drift", 1, SERVED), ("deps.drift", 2, SERVED),
        }  # fmt: skip


def test_on_drift_rollback_rolls_the_release_back(
    server: Server, project: str, fake: FakeModel, llm: openai.OpenAI
) -> None:
    p = f"/api/v1/projects/{project}"
    ps = Client(server.url, project, server.admin, flush_interval=0.05, init_timeout=5)
    try:
        rid = start(server, p, "rollback")
        first = 0

        def ended() -> Any:
            nonlocal first
            drive(ps, llm, first, 20)
            first += 20
            r = server.api("GET", f"{p}/releases/{rid}")
            return r if r["state"] != "running" else None

        done = until(ended, 10, "the controller to roll back")
    finally:
        ps.close()
    assert done["state"] == "rolled_back", done["reason"]
    assert "untested model" in done["reason"]
    assert server.api("GET", f"{p}/prompts/agent")["labels"]["prod"] == 1
