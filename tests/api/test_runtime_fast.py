"""The resolve fast path (``api.runtime_fast``): the same answers as the route, and every check.

The app here re-checks the store's sequence at most every 60 s (the other API tests use 0 s,
strict reads, where the fast path never answers), so a warm resolve is answered before the
router. Each test records whether the route ran, so a test of the fast path cannot pass by the
route answering instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from promptstage.api.routes import runtime
from promptstage.service import snapshot

from .client import ADMIN_KEY, BASE, Api, Seeded

P = f"{BASE}/acme"
G = f"{P}/prompts/greet"
PARAMS = {"label": "prod", "unit": "user-1", "channel": "sms"}


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The prompts the FastAPI route resolved (the fast path does not go through it)."""
    calls: list[str] = []
    real = snapshot.resolve_answer

    def counting(state: Any, prompt: str, *args: Any) -> bytes:
        calls.append(prompt)
        return real(state, prompt, *args)

    monkeypatch.setattr(runtime, "resolve_answer", counting)
    return calls


@pytest.fixture
def fast_app(seeded: Seeded, make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(state_check_seconds=60.0)


@pytest.fixture
def as_key(
    seeded: Seeded, fast_app: FastAPI, runner: asyncio.Runner
) -> Callable[[str | None], Api]:
    def make(name: str | None) -> Api:
        token = ADMIN_KEY if name == "instance" else None if name is None else seeded.keys[name]
        return Api(runner, fast_app, token)

    return make


def test_the_fast_answer_is_the_routes_answer_byte_for_byte(
    as_key: Callable[[str | None], Api], route_calls: list[str]
) -> None:
    client = as_key("runtime")
    first = client.get(f"{G}/resolve", params=PARAMS)  # loads the state through the route
    assert route_calls == ["greet"]
    fast = client.get(f"{G}/resolve", params=PARAMS)
    assert route_calls == ["greet"], "a warm resolve is answered before the router"
    # ``render=false`` is left to the route, which answers the same resolution.
    routed = client.get(f"{G}/resolve", params={**PARAMS, "render": "false"})
    assert route_calls == ["greet", "greet"]
    assert fast.status_code == routed.status_code == first.status_code == 200
    assert fast.content == routed.content == first.content
    for name in (
        "content-type",
        "content-length",
        "cache-control",
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ):
        assert fast.headers.get(name) == routed.headers.get(name), name
    assert fast.json()["version"] == 2 and fast.json()["arm"] == "baseline"


@pytest.mark.parametrize(
    ("who", "status"),
    [(None, 401), ("revoked", 401), ("other-editor", 403), ("bad", 401)],
)
def test_a_key_that_may_not_resolve_is_refused_by_the_route(
    as_key: Callable[[str | None], Api],
    route_calls: list[str],
    seeded: Seeded,
    who: str | None,
    status: int,
) -> None:
    as_key("runtime").get(f"{G}/resolve")  # the state is warm: only the key can stop it
    client = as_key(who) if who != "bad" else as_key("runtime").as_key("ps_abcdefgh_" + "x" * 43)
    # Twice: the first request puts a key that authenticates in the key cache, where the fast
    # path finds it the second time (and must still refuse it).
    for _ in range(2):
        response = client.get(f"{G}/resolve", params=PARAMS)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"], "the route's error answer, not a resolution"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"label": "nope"}, 404),
        ({"label": "x" * 64}, 422),
        ({"unit": "u" * 257}, 422),
        ({"channel": "a\x00b"}, 422),
        ({f"k{i}": "v" for i in range(65)}, 422),
    ],
)
def test_what_the_route_refuses_reaches_the_route(
    as_key: Callable[[str | None], Api],
    route_calls: list[str],
    params: dict[str, str],
    status: int,
) -> None:
    client = as_key("runtime")
    client.get(f"{G}/resolve")
    response = client.get(f"{G}/resolve", params=params)
    assert response.status_code == status, response.text
    assert "error" in response.json()


def test_unknown_prompt_and_other_project_go_to_the_route(
    as_key: Callable[[str | None], Api], route_calls: list[str]
) -> None:
    client = as_key("runtime")
    client.get(f"{G}/resolve")
    assert client.get(f"{P}/prompts/gret/resolve").status_code == 404
    assert client.get(f"{BASE}/other/prompts/greet/resolve").status_code == 403


def test_a_label_move_is_seen_at_once(
    seeded: Seeded, as_key: Callable[[str | None], Api], fast_app: FastAPI
) -> None:
    client = as_key("runtime")
    assert client.get(f"{G}/resolve").json()["version"] == 2
    assert client.get(f"{G}/resolve").json()["version"] == 2
    as_key("instance").put(
        f"{G}/labels/prod", json={"version": 1, "expected_version": 2, "reason": "back"}
    )
    assert client.get(f"{G}/resolve").json()["version"] == 1


def test_rate_limits_still_apply(
    seeded: Seeded, make_app: Callable[..., FastAPI], runner: asyncio.Runner
) -> None:
    app = make_app(state_check_seconds=60.0, rate_limit_reads_per_key=3)
    client = Api(runner, app, seeded.keys["runtime"])
    statuses = [client.get(f"{G}/resolve").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_metrics_count_fast_answers_under_the_route(
    as_key: Callable[[str | None], Api], route_calls: list[str]
) -> None:
    client = as_key("runtime")
    for _ in range(3):
        assert client.get(f"{G}/resolve").status_code == 200
    assert route_calls == ["greet"]
    text = client.as_key(None).get("/metrics").text
    line = 'method="GET",route="/api/v1/projects/{project}/prompts/{name}/resolve",status="200"}'
    assert f"{line} 3" in text


def test_a_due_recheck_runs_in_the_background_while_the_fast_path_answers(
    as_key: Callable[[str | None], Api], route_calls: list[str], fast_app: FastAPI
) -> None:
    """Once the state's periodic re-check is due, the route answers from memory and re-checks
    in the background (``StateCache.read``); the fast path does the same instead of handing
    every request to the route (and the thread pool) until that re-check lands."""
    client = as_key("runtime")
    client.get(f"{G}/resolve")
    assert route_calls == ["greet"]
    cache: snapshot.StateCache = fast_app.state.state_cache
    state = cache.read("acme").state
    state.checked_at -= 120.0  # the 60 s re-check is due; nothing newer is known
    assert client.get(f"{G}/resolve").status_code == 200
    assert route_calls == ["greet"], "a due re-check is no reason to go to the route"
    deadline = time.monotonic() + 10.0
    while cache.held()["acme"] > 60.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.held()["acme"] < 60.0, "the re-check ran in the background"
    cache.close()  # joins the re-check thread before the store closes
