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
from urllib.parse import parse_qsl

import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from promptstage.api.inputs import problem_in
from promptstage.api.routes import runtime
from promptstage.api.runtime_fast import FastPathApp, _query_pairs
from promptstage.server import create_app
from promptstage.service import snapshot
from promptstage.settings import Settings
from promptstage.telemetry.otel import Telemetry

from .client import ADMIN_KEY, BASE, Api, Seeded, text_version

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


def test_a_folder_name_and_encoded_values_are_answered_from_memory_as_the_route_answers(
    as_key: Callable[[str | None], Api], route_calls: list[str]
) -> None:
    """A folder's ``%2F`` in the name, and ``%``-encoded and ``+`` values in the query, reach
    the fast path decoded exactly as the route decodes them: the targeting rule below matches
    only the decoded value, and the a/b split only the unit as sent."""
    admin = as_key("instance")
    folder = f"{P}/prompts/support%2Ftriage"
    assert admin.post(f"{P}/prompts", json={"name": "support/triage", "type": "text"}).is_success
    made = admin.post(f"{folder}/versions", json=text_version("Hi {{ name }}"))
    assert made.status_code == 201, made.text
    moved = admin.put(f"{folder}/labels/staging", json={"version": 1, "reason": "t"})
    assert moved.status_code == 200, moved.text
    value = "a+b %c/é&x=y"  # sent as a%2Bb+%25c%2F%C3%A9%26x%3Dy
    started = admin.post(
        f"{P}/releases",
        json={
            "prompt": "greet",
            "label": "prod",
            "candidate_version": 3,
            "strategy": "ab",
            "targeting": {
                "combinator": "and",
                "rules": [{"field": "channel", "operator": "in", "value": [value]}],
            },
        },
    )
    assert started.status_code == 201, started.text
    client = as_key("runtime")
    client.get(f"{folder}/resolve", params={"label": "staging"})  # loads the state
    route_calls.clear()

    fast = client.get(f"{folder}/resolve", params={"label": "staging"})
    assert fast.status_code == 200 and fast.json()["prompt"] == "support/triage"
    assert route_calls == [], "a folder's prompt is answered from memory"
    arms = set()
    for i in range(40):
        for channel in (value, "a b %c/é&x=y"):
            params = {"unit": f"user {i}+1", "channel": channel}
            fast = client.get(f"{G}/resolve", params=params)
            routed = client.get(f"{G}/resolve", params={**params, "render": "false"})
            assert fast.content == routed.content, params
            arms.add((channel == value, fast.json()["arm"]))
    assert route_calls == ["greet"] * 80, "each pair: one from memory, one from the route"
    assert (False, "baseline") in arms and len(arms) >= 3, arms  # both arms where it matches


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
    text = client.as_key(ADMIN_KEY).get("/metrics").text
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


# -- the layers the fast path skips, and what it does in their place ----------------------------

REVIEWED_LAYERS = [
    "LangfuseErrors",  # /api/public/ only
    "ClientAddress",  # the fast path rate-limits the same client address
    "MetricsMiddleware",  # the fast path counts its answer under the route's template
    "SecurityHeaders",  # the fast path sends an API answer's headers
    "until_migrated",  # (with migrate_later) the fast path waits for the same startup gate
    "RateLimit",  # the fast path asks the same RateLimits and lets the stack answer a 429
    "BodyLimit",  # bodies of writes only
    "Idempotency",  # writes only
]
OUTER_LAYERS = [
    "EncodedSlashes",  # the fast path reads a raw path with % as it rebuilds it
]


def _layer_name(middleware: Any) -> str:
    dispatch = middleware.kwargs.get("dispatch")
    return dispatch.__name__ if dispatch is not None else middleware.cls.__name__


@pytest.mark.parametrize("migrate_later", [False, True])
@pytest.mark.parametrize("traced", [False, True])
def test_the_layers_it_skips_are_the_reviewed_ones(
    seeded: Seeded, make_store: Callable[[], Any], migrate_later: bool, traced: bool
) -> None:
    """A middleware added inside the fast path fails this test until ``api/runtime_fast.py``
    is reviewed for it: does a resolve answered from memory need what it does? Untraced, the
    fast path stands in front of every layer; traced, inside the request span only."""
    settings = Settings(admin_key=ADMIN_KEY, eval_gate=False)
    telemetry = (
        Telemetry.start(settings, {}, version="test", exporter=InMemorySpanExporter())
        if traced
        else None
    )
    app = create_app(settings, store=make_store(), migrate_later=migrate_later, telemetry=telemetry)
    names = [_layer_name(m) for m in app.user_middleware]  # outermost first
    inner = [n for n in REVIEWED_LAYERS if migrate_later or n != "until_migrated"]
    if traced:
        assert names == [*OUTER_LAYERS, "RequestSpans", "RuntimeFastPath", *inner]
        assert telemetry is not None
        telemetry.shutdown()
    else:
        assert isinstance(app, FastPathApp) and app.resolver is not None
        assert names == [*OUTER_LAYERS, *inner], "every layer is behind the fast path"


def test_a_client_blocked_for_failed_keys_gets_the_stacks_429(
    seeded: Seeded, make_app: Callable[..., FastAPI], runner: asyncio.Runner
) -> None:
    app = make_app(state_check_seconds=60.0, rate_limit_auth_failures=2)
    client = Api(runner, app, seeded.keys["runtime"])
    assert client.get(f"{G}/resolve").status_code == 200  # warm: the fast path would answer
    bad = client.as_key("ps_abcdefgh_" + "x" * 43)
    assert [bad.get(f"{G}/resolve").status_code for _ in range(2)] == [401, 401]
    refused = client.get(f"{G}/resolve")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["content-security-policy"], "answered by the stack, headers and all"


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_one_limited(
    seeded: Seeded, make_app: Callable[..., FastAPI], runner: asyncio.Runner
) -> None:
    """The test client's peer is 127.0.0.1, a trusted proxy here: the client is the address
    it appended to X-Forwarded-For, for the fast path as for the stack."""
    app = make_app(
        state_check_seconds=60.0, rate_limit_auth_failures=2, trusted_proxies="127.0.0.1"
    )
    client = Api(runner, app, seeded.keys["runtime"])
    blocked, other = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "203.0.113.8"}
    assert client.get(f"{G}/resolve", headers=other).status_code == 200
    bad = client.as_key("ps_abcdefgh_" + "x" * 43)
    assert [bad.get(f"{G}/resolve", headers=blocked).status_code for _ in range(2)] == [401, 401]
    assert client.get(f"{G}/resolve", headers=blocked).status_code == 429
    assert client.get(f"{G}/resolve", headers=other).status_code == 200


def test_the_per_key_read_limit_counts_fast_answers_once(
    seeded: Seeded, make_app: Callable[..., FastAPI], runner: asyncio.Runner
) -> None:
    """Each answer takes one token, wherever it is answered; the refusal is the stack's."""
    app = make_app(state_check_seconds=60.0, rate_limit_reads_per_key=4)
    client = Api(runner, app, seeded.keys["runtime"])
    answers = [client.get(f"{G}/resolve") for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_before_the_startup_gate_opens_the_stack_answers(
    as_key: Callable[[str | None], Api], route_calls: list[str], fast_app: FastAPI
) -> None:
    client = as_key("runtime")
    client.get(f"{G}/resolve")
    fast_app.state.startup_gate.reason = "the database could not be reached at start"
    client.get(f"{G}/resolve")
    assert route_calls == ["greet", "greet"], "a closed startup gate leaves it to the stack"


# -- the query, read as Starlette reads it --------------------------------------------------------

QUERY_TEXT = st.text(alphabet=st.sampled_from("ab=&%+2F0\x00 é"), max_size=24) | st.text(
    alphabet=st.characters(max_codepoint=255), max_size=24
)


@given(QUERY_TEXT)
def test_the_query_pairs_are_starlettes_or_refused_for_what_no_store_holds(query: str) -> None:
    """``_query_pairs`` splits by hand what needs no decoding: the same pairs as ``parse_qsl``
    (what the route reads), and ``None`` exactly when a key or value could not be stored."""
    expected = parse_qsl(query, keep_blank_values=True)
    refused = any(problem_in(key) or problem_in(value) for key, value in expected)
    assert _query_pairs(query) == (None if refused else expected)


def test_a_nul_in_an_undecoded_query_is_refused() -> None:
    assert _query_pairs("label=prod&channel=a\x00b") is None
    assert _query_pairs("label=prod&channel=a%00b") is None
    assert _query_pairs("label=prod&&channel=&x") == [("label", "prod"), ("channel", ""), ("x", "")]
