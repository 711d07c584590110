"""Every release and webhook route, its roles and its errors, in-process (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore
from support.templates import fresh_migrated_database

ADMIN = "ps_relsadmin_" + "0123456789abcdef" * 4
P = "/api/v1/projects/acme"
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


class Client:
    def __init__(self, runner: asyncio.Runner, app: Any, token: str | None) -> None:
        self.runner, self.app, self.token = runner, app, token

    def call(
        self, method: str, path: str, status: int | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        response = self.runner.run(send())
        if status is not None:
            assert response.status_code == status, (
                method,
                path,
                response.status_code,
                response.text,
            )
        return response

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        return self.call(method, path, status, **kwargs).json()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_migrated_database(request, request.param, tmp_path)


@pytest.fixture
def clients(database_url: str) -> Iterator[dict[str, Client]]:
    """The admin and one client per role on a project ``acme`` with prompt ``greet``
    (versions 1-3, ``prod`` -> 1)."""
    store = SqlStore.from_url(database_url, migrate=True)
    app = create_app(
        Settings(admin_key=ADMIN, state_check_seconds=0.0, eval_gate=False), store=store
    )
    with asyncio.Runner() as runner:
        admin = Client(runner, app, ADMIN)
        admin.ok("POST", "/api/v1/projects", 201, json={"name": "acme"})
        # Four-eyes (default on) is tested in tests/api/test_four_eyes.py; here releasers start releases.
        admin.ok("PUT", f"{P}/settings", json={"protected_labels": ["prod"], "four_eyes": False})
        admin.ok("POST", f"{P}/prompts", 201, json={"name": "greet", "type": "text"})
        for n in (1, 2, 3):
            admin.ok(
                "POST",
                f"{P}/prompts/greet/versions",
                201,
                json={"template": f"Hi v{n}", "config": {"model": MODEL}},
            )
        admin.ok(
            "PUT", f"{P}/prompts/greet/labels/prod", json={"version": 1, "expected_version": None}
        )
        out = {"admin": admin, "anonymous": Client(runner, app, None)}
        for role in ("runtime", "editor", "releaser"):
            token = admin.ok("POST", f"{P}/keys", 201, json={"role": role})["token"]
            out[role] = Client(runner, app, token)
        yield out
    store.close()


START = {"prompt": "greet", "label": "prod", "candidate_version": 2, "strategy": "canary"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


def test_start_and_read(clients: dict[str, Client]) -> None:
    rel = clients["releaser"]
    body = rel.ok("POST", f"{P}/releases", 201, json={**START, "reason": "try v2"})
    assert (
        body["state"] == "running" and body["weight_bps"] == 500 and body["baseline_version"] == 1
    )
    assert body["history"][0]["action"] == "start" and body["looks"] == []
    assert body["on_insufficient_data"] == "rollback"  # the default: missing data is an alarm
    rid = body["id"]
    listed = clients["editor"].ok("GET", f"{P}/releases?state=running&prompt=greet")
    assert [r["id"] for r in listed["items"]] == [rid] and listed["next_cursor"] is None
    assert clients["editor"].ok("GET", f"{P}/releases/{rid}")["id"] == rid
    assert [r["id"] for r in clients["editor"].ok("GET", f"{P}/prompts/greet")["releases"]] == [rid]
    snap = clients["runtime"].ok("GET", f"{P}/snapshot")
    assert snap["releases"][0]["id"] == rid and "greet@2" in snap["releases"][0]["versions"]
    arms = {
        clients["runtime"].ok("GET", f"{P}/prompts/greet/resolve?label=prod&unit=u{i}")["arm"]
        for i in range(200)
    }
    assert arms == {"canary", "control", "baseline"}
    analysis = clients["editor"].ok("GET", f"{P}/releases/{rid}/analysis")
    assert analysis["release"]["id"] == rid and analysis["decision"] == "hold"
    assert analysis["guardrails"][0]["metric"] == "error_rate" and analysis["units"] == {
        "canary": 0,
        "control": 0,
    }
    assert analysis["latest_look"] is None
    assert clients["editor"].ok("GET", f"{P}/releases/{rid}/looks") == {
        "items": [],
        "next_cursor": None,
    }


def test_start_with_on_insufficient_data_pause(clients: dict[str, Client]) -> None:
    body = {**START, "on_insufficient_data": "pause"}
    started = clients["releaser"].ok("POST", f"{P}/releases", 201, json=body)
    assert started["on_insufficient_data"] == "pause"
    found = clients["editor"].ok("GET", f"{P}/releases/{started['id']}")
    assert found["on_insufficient_data"] == "pause"


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("runtime", 403), ("editor", 403), ("releaser", 201), ("admin", 201)],
)
def test_starting_needs_the_releaser_role(
    clients: dict[str, Client], who: str, status: int
) -> None:
    response = clients[who].call("POST", f"{P}/releases", json=START)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**START, "prompt": "nope"}, 404, "prompt"),
        ({**START, "label": "staging"}, 404, "label"),
        ({**START, "candidate_version": 7}, 404, "candidate_version"),
        ({**START, "candidate_version": 1}, 422, "candidate_version"),
        ({**START, "candidate_version": "2"}, 422, "candidate_version"),
        ({**START, "strategy": "yolo"}, 422, "strategy"),
        ({**START, "colour": "red"}, 422, "colour"),
        ({**START, "steps": [500, 2500]}, 422, "steps"),
        (
            {
                **START,
                "targeting": {
                    "combinator": "and",
                    "rules": [{"field": "tier", "operator": "~", "value": 1}],
                },
            },
            422,
            "targeting.rules[0].operator",
        ),
        ({**START, "guardrails": [{"metric": "1bad"}]}, 422, "guardrails[0].metric"),
        ({**START, "on_insufficient_data": "hold"}, 422, "on_insufficient_data"),
        ({k: v for k, v in START.items() if k != "strategy"}, 422, "strategy"),
    ],
)
def test_start_errors(
    clients: dict[str, Client], body: dict[str, Any], status: int, field: str
) -> None:
    before = clients["admin"].ok("GET", f"{P}/audit?limit=500")
    response = clients["releaser"].call("POST", f"{P}/releases", json=body)
    assert response.status_code == status, response.text
    assert error_of(response)["field"] == field
    assert clients["admin"].ok("GET", f"{P}/audit?limit=500") == before


def test_conflicts_and_actions(clients: dict[str, Client]) -> None:
    rel = clients["releaser"]
    rid = rel.ok("POST", f"{P}/releases", 201, json={**START, "strategy": "ramp"})["id"]
    conflict = rel.call("POST", f"{P}/releases", 409, json={**START, "candidate_version": 3})
    assert (
        error_of(conflict)["code"] == "conflict"
        and error_of(conflict)["details"]["release_id"] == rid
    )
    moved = rel.call(
        "PUT", f"{P}/prompts/greet/labels/prod", 409, json={"version": 3, "expected_version": 1}
    )
    assert "active release" in error_of(moved)["message"]
    assert rel.ok("POST", f"{P}/releases/{rid}/advance")["weight_bps"] == 2500
    paused = rel.ok("POST", f"{P}/releases/{rid}/pause", json={"reason": "lunch"})
    assert paused["state"] == "paused" and paused["history"][-1]["reason"] == "lunch"
    again = rel.call("POST", f"{P}/releases/{rid}/pause", 409)
    assert "resume" in error_of(again)["message"] and error_of(again)["details"]["allowed"]
    assert rel.call("POST", f"{P}/releases/{rid}/advance", 409).status_code == 409
    assert rel.ok("POST", f"{P}/releases/{rid}/resume")["state"] == "running"
    assert clients["editor"].call("POST", f"{P}/releases/{rid}/promote", 403).status_code == 403
    done = rel.ok("POST", f"{P}/releases/{rid}/promote")
    assert done["state"] == "completed" and done["weight_bps"] == 10000
    assert clients["admin"].ok("GET", f"{P}/prompts/greet")["labels"]["prod"] == 2
    final = rel.call("POST", f"{P}/releases/{rid}/rollback", 409)
    assert "final" in error_of(final)["message"]
    for action in ("advance", "pause", "resume", "promote", "rollback", "abort"):
        assert rel.call("POST", f"{P}/releases/rel_unknown/{action}", 404).status_code == 404
    assert clients["editor"].call("GET", f"{P}/releases/rel_unknown", 404).status_code == 404
    assert (
        clients["editor"].call("GET", f"{P}/releases/rel_unknown/analysis", 404).status_code == 404
    )
    assert clients["editor"].call("GET", f"{P}/releases?state=sleepy", 422).status_code == 422
    assert clients["admin"].call("GET", "/api/v1/projects/nope/releases", 404).status_code == 404
    assert clients["editor"].call("GET", "/api/v1/projects/nope/releases", 403).status_code == 403


def test_label_rollback_ends_the_release(clients: dict[str, Client]) -> None:
    rel = clients["releaser"]
    rid = rel.ok("POST", f"{P}/releases", 201, json=START)["id"]
    body = rel.ok("POST", f"{P}/prompts/greet/labels/prod/rollback", json={"reason": "abort!"})
    assert body == {
        "prompt": "greet",
        "label": "prod",
        "version": 1,
        "previous": 1,
        "move": None,
        "release_rolled_back": True,
    }
    found = rel.ok("GET", f"{P}/releases/{rid}")
    assert found["state"] == "rolled_back" and found["reason"] == "abort!"
    assert clients["runtime"].ok("GET", f"{P}/snapshot")["releases"] == []


def test_webhook_routes(clients: dict[str, Client]) -> None:
    admin = clients["admin"]
    created = admin.ok(
        "POST",
        f"{P}/webhooks",
        201,
        json={"url": "https://hooks.example.com/ps", "events": ["release.changed"]},
    )
    assert created["secret"].startswith("whsec_") and created["events"] == ["release.changed"]
    listed = admin.ok("GET", f"{P}/webhooks")
    assert [h["id"] for h in listed["items"]] == [created["id"]] and "secret" not in listed[
        "items"
    ][0]
    assert admin.ok("GET", f"{P}/webhooks/{created['id']}/deliveries") == {
        "items": [],
        "next_cursor": None,
    }
    assert clients["releaser"].call("GET", f"{P}/webhooks", 403).status_code == 403
    bad = admin.call("POST", f"{P}/webhooks", 422, json={"url": "file:///etc/passwd"})
    assert error_of(bad)["field"] == "url"
    assert admin.ok("DELETE", f"{P}/webhooks/{created['id']}") == {
        "id": created["id"],
        "deleted": True,
    }
    assert admin.call("DELETE", f"{P}/webhooks/{created['id']}", 404).status_code == 404
    assert admin.call("GET", f"{P}/webhooks/{created['id']}/deliveries", 404).status_code == 404
