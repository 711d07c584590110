"""The API's two shapes, pinned over every route the OpenAPI document lists: every error is
``{"error": {"code", "message", "field"}}`` (never a 5xx for bad input), every list is
``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from .client import ADMIN_KEY, BASE, Api, Seeded, assert_error_shape

PUBLIC = re.compile(r"^/(healthz|readyz|metrics|openapi\.json|docs.*|redoc)$")
PARAMS = {"project": "acme", "name": "greet", "label": "prod", "number": "1"}
LISTS = [
    BASE,
    f"{BASE}/acme/prompts",
    f"{BASE}/acme/prompts/greet/versions",
    f"{BASE}/acme/prompts/greet/labels/prod/history",
    f"{BASE}/acme/audit",
    f"{BASE}/acme/keys",
]


def operations(seeded: Seeded) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path with its parameters filled in, operation)`` of every documented route."""
    spec = seeded.admin.ok("GET", "/openapi.json")
    found = []
    for template, methods in spec["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "nope"), template)
        for method, operation in methods.items():
            found.append((method.upper(), path, operation))
    return found


def assert_langfuse_error_shape(body: Any) -> None:
    """The Langfuse-compatible API's errors: Langfuse's ``{message, error}`` plus our ``code``
    and ``field`` (docs/langfuse.md)."""
    assert isinstance(body, dict) and set(body) == {"message", "error", "code", "field"}, body
    assert isinstance(body["message"], str) and body["message"], body
    assert isinstance(body["error"], str) and body["error"].endswith("Error"), body


def check(response: httpx.Response, problems: list[str], what: str) -> None:
    """Record a 5xx (503 "not configured" aside) or an error body of another shape (under
    ``/api/public/``, the Langfuse-compatible API, Langfuse's shape)."""
    if response.status_code >= 500 and response.status_code != 503:
        problems.append(f"{what}: {response.status_code} {response.text[:200]}")
    elif response.status_code >= 400:
        shape = (
            assert_langfuse_error_shape
            if response.request.url.path.startswith("/api/public/")
            else assert_error_shape
        )
        try:
            shape(response.json())
        except (AssertionError, ValueError) as exc:
            problems.append(f"{what}: {response.status_code} has not the error shape: {exc}")


def test_every_route_answers_errors_in_the_one_shape(
    seeded: Seeded, make_app: Callable[..., FastAPI]
) -> None:
    problems: list[str] = []
    # Without the auth-failure rate limit: the sweep fails authentication on purpose, often.
    admin = Api(seeded.admin.runner, make_app(rate_limit_auth_failures=0), ADMIN_KEY)
    anonymous = admin.as_key(None)
    for method, path, operation in operations(seeded):
        what = f"{method} {path}"
        response = anonymous.request(method, path)
        check(response, problems, f"{what} (no key)")
        if path.startswith(("/api/v1/", "/api/public/")) and response.status_code != 401:
            problems.append(f"{what}: {response.status_code} without a key, expected 401")
        if path.endswith("/events"):
            continue  # a stream: probed by test_runtime with a real server
        if method in ("POST", "PUT", "PATCH"):
            for content in (b'{"zz_unknown": [1]}', b"[]", b"{", b"null"):
                sent = admin.request(
                    method, path, content=content, headers={"Content-Type": "application/json"}
                )
                check(sent, problems, f"{what} body {content!r}")
        query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        if query:
            for junk in ("zz", "-1", "99999999999999999999999", ""):
                check(
                    admin.request(method, path, params=dict.fromkeys(query, junk)),
                    problems,
                    f"{what} query={junk!r}",
                )
    assert not problems, "\n".join(problems)


def test_unknown_routes_and_methods_answer_in_the_error_shape(seeded: Seeded) -> None:
    for method, path, status in (
        ("GET", "/nope", 404),
        ("GET", f"{BASE}/acme/prompts/greet/nope", 404),
        ("PATCH", f"{BASE}/acme/prompts", 405),
        ("POST", "/healthz", 405),
    ):
        response = seeded.admin.request(method, path)
        assert response.status_code == status, (method, path)
        error = assert_error_shape(response.json())
        assert error["field"] is None


def test_list_endpoints_share_one_shape(seeded: Seeded) -> None:
    for path in LISTS:
        body = seeded.admin.ok("GET", path)
        assert set(body) == {"items", "next_cursor"}, path
        assert isinstance(body["items"], list) and body["items"], path
        assert body["next_cursor"] is None or isinstance(body["next_cursor"], str), path


def test_every_documented_list_has_the_list_shape(seeded: Seeded) -> None:
    """Any GET route answering with ``items`` answers with exactly ``items`` and ``next_cursor``."""
    for method, path, _ in operations(seeded):
        if method != "GET" or path.endswith("/events") or PUBLIC.match(path):
            continue
        response = seeded.admin.get(path)
        if response.status_code == 200 and response.headers["content-type"] == "application/json":
            body = response.json()
            if isinstance(body, dict) and "items" in body:
                assert set(body) == {"items", "next_cursor"}, path
