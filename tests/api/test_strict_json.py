"""Strict JSON on every request body: NaN/Infinity and duplicate keys are 400 malformed_request."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from promptstage.api.strict_json import is_json, problem
from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY, BASE, Caller

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"name": NaN}', "NaN"),
        (b'{"name": "a", "n": [1, Infinity]}', "Infinity"),
        (b'{"n": -Infinity}', "-Infinity"),
        (b'{"name": "a", "name": "b"}', "'name' twice"),
        (b'{"config": {"model": {}, "model": {}}}', "'model' twice"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_problem_names_what_is_wrong(body: bytes, named: str) -> None:
    found = problem(body)
    assert found is not None and named in found


@pytest.mark.parametrize(
    "body", [b"", b"  ", b"{}", b'{"a": [1, 2.5, null, "NaN"]}', b"not json", b"\xff\xfe{"]
)
def test_strict_or_not_json_passes(body: bytes) -> None:
    assert problem(body) is None  # not JSON at all is the route's to explain


def test_json_media_types() -> None:
    assert (
        is_json(None)
        and is_json(b"application/json; charset=utf-8")
        and is_json(b"application/merge-patch+json")
    )
    assert not is_json(b"text/plain") and not is_json(b"multipart/form-data; boundary=x")


@pytest.fixture
def app(make_clocked_app: Callable[..., FastAPI]) -> FastAPI:
    return make_clocked_app()


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        (BASE, b'{"name": "a", "name": "b"}', "'name' twice"),
        (BASE, b'{"name": "a", "description": NaN}', "NaN"),
        (
            f"{BASE}/strict/prompts",
            b'{"name": "p", "type": "text", "tags": [], "tags": ["x"]}',
            "'tags' twice",
        ),
        (f"{BASE}/strict/calls", b'{"calls": [{"latency_ms": Infinity}]}', "Infinity"),
        (f"{BASE}/strict/scores", b'{"scores": [{"value": NaN}]}', "NaN"),
    ],
)
def test_routes_refuse_non_strict_json(
    app: FastAPI, call: Caller, path: str, body: bytes, named: str
) -> None:
    assert call(app, "POST", BASE, token=ADMIN_KEY, json={"name": "strict"}).status_code == 201
    for content_type in ("application/json", None):
        headers = {"content-type": content_type} if content_type else {}
        response = call(app, "POST", path, token=ADMIN_KEY, content=body, headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "malformed_request" and named in error["message"]


def test_strict_json_still_works_and_non_objects_are_400(app: FastAPI, call: Caller) -> None:
    assert (
        call(
            app,
            "POST",
            BASE,
            token=ADMIN_KEY,
            content=b'{"name": "ok", "description": "NaN"}',
            headers={"content-type": "application/json"},
        ).status_code
        == 201
    )
    for body in (b"[1]", b'"name"', b"3"):
        response = call(
            app,
            "POST",
            BASE,
            token=ADMIN_KEY,
            content=body,
            headers={"content-type": "application/json"},
        )
        assert (
            response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
        )
