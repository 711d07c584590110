"""The runtime surface over HTTP: resolve, snapshot with ETag, and the SSE event stream."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from promptstage.domain.canonical import version_digest

from .client import ADMIN_KEY, BASE, MODEL, Api, Seeded

P = f"{BASE}/acme"
G = f"{P}/prompts/greet"


# -- resolve ------------------------------------------------------------------------------------


def test_resolve_a_label(seeded: Seeded) -> None:
    body = seeded.client("runtime").ok(
        "GET", f"{G}/resolve", params={"label": "prod", "unit": "user-1", "channel": "sms"}
    )
    version = seeded.admin.ok("GET", f"{G}/versions/2")
    assert body == {
        "prompt": "greet",
        "label": "prod",
        "version": 2,
        "digest": version["digest"],
        "arm": "baseline",
        "release_id": None,
        "unitless": body["unitless"],
        "type": "text",
        "template": "Hi {{ name }}!",
        "variables": version["variables"],
        "config": version["config"],
        "includes": {},
    }


def test_resolve_defaults_to_prod_and_knows_latest(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    assert runtime.ok("GET", f"{G}/resolve")["version"] == 2
    latest = runtime.ok("GET", f"{G}/resolve", params={"label": "latest"})
    assert latest["version"] == 3 and latest["includes"] == {"shared.tone@1": "Be kind."}


def test_resolve_renders_with_var_parameters(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    body = runtime.ok(
        "GET", f"{G}/resolve", params={"label": "staging", "render": "1", "var.name": "Ana"}
    )
    assert body["rendered"] == "Be kind. Hey Ana."
    chat = runtime.ok(
        "GET",
        f"{P}/prompts/chatty/resolve",
        params={"label": "latest", "render": "true", "var.user": "Bo"},
    )
    assert chat["rendered"] == [{"role": "system", "content": "Help Bo."}]
    assert "rendered" not in runtime.ok("GET", f"{G}/resolve", params={"var.name": "Ana"})


def test_resolve_renders_typed_variables_from_query_text(seeded: Seeded) -> None:
    admin = seeded.admin
    admin.ok("POST", f"{P}/prompts", 201, json={"name": "typed", "type": "text"})
    variables = [
        {"name": "n", "type": "integer"},
        {"name": "tags", "type": "array"},
        {"name": "s", "type": "string"},
    ]
    admin.ok(
        "POST",
        f"{P}/prompts/typed/versions",
        201,
        json={
            "template": "{{ n }}|{{ tags }}|{{ s }}",
            "variables": variables,
            "config": {"model": MODEL},
        },
    )
    runtime = seeded.client("runtime")
    params = {"label": "latest", "render": "1", "var.n": "3", "var.tags": '["a", 1]', "var.s": "3"}
    assert (
        runtime.ok("GET", f"{P}/prompts/typed/resolve", params=params)["rendered"] == '3|["a",1]|3'
    )
    error = runtime.ok(
        "GET", f"{P}/prompts/typed/resolve", 422, params={**params, "var.n": "three"}
    )["error"]
    assert (error["field"], error["code"]) == ("n", "template_error")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"render": "1"}, "name"),
        ({"render": "1", "var.name": "Ana", "var.nmae": "x"}, "nmae"),
    ],
)
def test_resolve_render_errors_name_the_variable(
    seeded: Seeded, params: dict[str, str], field: str
) -> None:
    error = seeded.client("runtime").ok("GET", f"{G}/resolve", 422, params=params)["error"]
    assert (error["code"], error["field"]) == ("template_error", field)


def test_resolve_sees_a_label_move_at_once(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    assert runtime.ok("GET", f"{G}/resolve")["version"] == 2
    seeded.client("releaser").ok("POST", f"{G}/labels/prod/rollback")
    assert runtime.ok("GET", f"{G}/resolve")["version"] == 1


def test_resolve_limits_context_attributes(seeded: Seeded) -> None:
    params = {f"a{i}": "x" for i in range(65)}
    error = seeded.client("runtime").ok("GET", f"{G}/resolve", 422, params=params)["error"]
    assert error["field"] == "query"


# -- snapshot -----------------------------------------------------------------------------------


def test_snapshot_holds_every_labelled_version(seeded: Seeded) -> None:
    response = seeded.client("runtime").get(f"{P}/snapshot")
    assert response.status_code == 200
    body = response.json()
    assert response.headers["etag"] == f'"{body["seq"]}"'
    assert (body["format"], body["project"], body["releases"]) == (1, "acme", [])
    assert body["prompts"] == {
        "chatty": {"type": "chat", "labels": {"latest": 1}},
        "greet": {"type": "text", "labels": {"prod": 2, "staging": 3, "latest": 3}},
        "shared.tone": {"type": "text", "labels": {"latest": 1}},
    }
    assert sorted(body["versions"]) == ["chatty@1", "greet@2", "greet@3", "shared.tone@1"]
    for key, v in body["versions"].items():
        assert key == f"{v['prompt']}@{v['version']}"
        assert v["digest"] == version_digest(v["type"], v["template"], v["variables"], v["config"])


def test_snapshot_etag_and_304(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    first = runtime.get(f"{P}/snapshot")
    etag = first.headers["etag"]
    for header in (etag, f'"nope", {etag}', f"W/{etag}", "*"):
        again = runtime.get(f"{P}/snapshot", headers={"If-None-Match": header})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    assert runtime.get(f"{P}/snapshot", headers={"If-None-Match": '"0"'}).status_code == 200


def test_a_label_move_changes_etag_and_body(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    before = runtime.get(f"{P}/snapshot")
    seeded.client("releaser").ok(
        "PUT", f"{G}/labels/prod", json={"version": 1, "expected_version": 2}
    )
    after = runtime.get(f"{P}/snapshot", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["prompts"]["greet"]["labels"]["prod"] == 1
    assert "greet@1" in after.json()["versions"]
    assert after.json()["seq"] > before.json()["seq"]


def test_snapshot_follows_changes_made_through_another_replica(
    seeded: Seeded, make_app: Callable[..., FastAPI]
) -> None:
    runtime = seeded.client("runtime")
    etag = runtime.get(f"{P}/snapshot").headers["etag"]
    replica = Api(seeded.admin.runner, make_app(), ADMIN_KEY)
    replica.ok("PUT", f"{G}/labels/prod", json={"version": 3, "expected_version": 2})
    response = runtime.get(f"{P}/snapshot", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["prompts"]["greet"]["labels"]["prod"] == 3


# -- events (a real server: streams need one) ---------------------------------------------------


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free port in a thread; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app, log_level="warning", ws="none", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def server_url(seeded: Seeded, make_app: Callable[..., FastAPI]) -> Iterator[str]:
    with serving(make_app(sse_heartbeat_seconds=0.2)) as url:
        yield url


def read_events(
    url: str,
    token: str,
    count: int,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    then: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Read ``count`` SSE events (comments skipped); call ``then`` once the first one arrived."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream(
        "GET",
        f"{url}{P}/events",
        params=params,
        timeout=5,
        headers={"Authorization": f"Bearer {token}", **(headers or {})},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(": ")
                current[key] = json.loads(value) if key == "data" else value
                continue
            if not current:  # the blank line ending a comment (": heartbeat") block
                continue
            events.append(current)
            current = {}
            if len(events) == 1 and then is not None:
                then()
            if len(events) == count:
                break
    return events


def test_events_start_with_hello_and_replay_since(seeded: Seeded, server_url: str) -> None:
    current = seeded.admin.ok("GET", f"{P}/snapshot")["seq"]
    events = read_events(server_url, seeded.keys["runtime"], 1 + current, params={"since": 0})
    assert events[0] == {"event": "hello", "data": {"seq": current}}
    replayed = events[1:]
    assert [int(e["id"]) for e in replayed] == list(range(1, current + 1))
    kinds = [e["event"] for e in replayed]
    assert kinds.count("prompt.created") == 3 and kinds.count("version.created") == 5
    assert kinds.count("label.moved") == 3
    # Issue 11, defect 6: the seed's 5 key creations and 1 revocation keep their numbers but
    # reach a runtime stream withheld, with nothing of the key in them.
    assert kinds.count("withheld") == 6 and not {"key.created", "key.revoked"} & set(kinds)
    assert all(e["data"] == {} for e in replayed if e["event"] == "withheld")
    moved = [e["data"] for e in replayed if e["event"] == "label.moved"]
    assert [(m["label"], m["version"], m["previous"]) for m in moved] == [
        ("prod", 1, None),
        ("prod", 2, 1),
        ("staging", 3, None),
    ]
    assert moved[1]["version_data"]["template"] == "Hi {{ name }}!"


@pytest.mark.parametrize(
    ("role", "sees_keys"),
    [("runtime", False), ("editor", False), ("releaser", False), ("admin", True)],
)
def test_events_show_key_management_to_admin_keys_only(
    seeded: Seeded, server_url: str, role: str, sees_keys: bool
) -> None:
    current = seeded.admin.ok("GET", f"{P}/snapshot")["seq"]
    events = read_events(server_url, seeded.keys[role], 1 + current, params={"since": 0})
    replayed = events[1:]
    assert [int(e["id"]) for e in replayed] == list(range(1, current + 1))
    kinds = [e["event"] for e in replayed]
    if sees_keys:
        assert kinds.count("key.created") == 5 and kinds.count("key.revoked") == 1
        assert "withheld" not in kinds
    else:
        assert kinds.count("withheld") == 6 and "key.created" not in kinds
        assert not [e for e in replayed if "prefix" in e["data"] or "role" in e["data"]]


def test_events_replay_from_last_event_id(seeded: Seeded, server_url: str) -> None:
    current = seeded.admin.ok("GET", f"{P}/snapshot")["seq"]
    events = read_events(
        server_url,
        seeded.keys["runtime"],
        3,
        headers={"Last-Event-ID": str(current - 2)},
        params={"since": 0},
    )
    assert events[0]["event"] == "hello"
    assert [int(e["id"]) for e in events[1:]] == [current - 1, current]


def test_events_stream_live_changes(seeded: Seeded, server_url: str) -> None:
    releaser = httpx.Client(
        base_url=server_url, headers={"Authorization": f"Bearer {seeded.keys['releaser']}"}
    )
    with releaser:
        events = read_events(
            server_url,
            seeded.keys["runtime"],
            2,
            then=lambda: releaser.post(
                f"{G}/labels/prod/rollback", json={"reason": "live"}
            ).raise_for_status(),
        )
    current = events[0]["data"]["seq"]
    assert events[1]["event"] == "label.moved" and int(events[1]["id"]) == current + 1
    assert (
        events[1]["data"]["kind"],
        events[1]["data"]["version"],
        events[1]["data"]["previous"],
    ) == ("rollback", 1, 2)


def test_events_reset_when_the_client_is_ahead(seeded: Seeded, server_url: str) -> None:
    events = read_events(server_url, seeded.keys["runtime"], 2, params={"since": 10_000})
    current = events[0]["data"]["seq"]
    assert events[1] == {"event": "reset", "data": {"seq": current}}


def test_events_need_a_key(seeded: Seeded, server_url: str) -> None:
    response = httpx.get(f"{server_url}{P}/events", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"


def test_a_refused_event_stream_leaves_no_subscriber_behind(seeded: Seeded) -> None:
    bus = seeded.admin.app.state.ctx.bus
    before = len(bus._subscribers)
    for _ in range(5):
        seeded.admin.ok("GET", f"{BASE}/no-such-project/events", 404)
    assert len(bus._subscribers) == before
