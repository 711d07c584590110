"""Server-owned fields are never writable: every write route's request schema is walked from
``/openapi.json``; each server-owned field it does not declare is refused with 422 naming it
(routes with a closed schema), or ignored (the telemetry ingest routes, read back to check)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from promptstage.service.demo import PROJECT, seed_demo
from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY, BASE, Caller

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call

SERVER_OWNED = (
    "id",
    "project",
    "digest",
    "number",
    "version",
    "author",
    "created_by",
    "created_at",
    "updated_at",
    "hash",
    "prev_hash",
    "seq",
    "revoked_at",
    "state",
    "status",
    "approved",
    "approved_by",
    "approvals",
    "token",
    "prefix",
    "key_hash",
    "actor",
    "started_at",
    "ended_at",
    "decisions",
    "moved_at",
    "moved_by",
)
# Batched telemetry from the SDK: records are parsed field by field (an allowlist), unknown
# fields are ignored so that a newer SDK's batch is never lost on an older server.
INGEST_ROUTES = {("post", f"{BASE}/{{project}}/calls"), ("post", f"{BASE}/{{project}}/scores")}
PATH_VALUES = {"project": PROJECT, "name": "booking.system", "label": "staging"}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        if key in schema:  # an optional body: the object branch
            return _resolve(spec, next(s for s in schema[key] if s.get("type") != "null"))
    return schema


def minimal(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The smallest value of ``schema`` (required properties only) that its types accept."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal(spec, props[name]) for name in schema.get("required", ())}
    if kind == "array":
        return []
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return (schema.get("examples") or ["x"])[0]


def write_bodies(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(method, path template, resolved body schema)`` of every operation with a JSON body."""
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found.append((method, path, _resolve(spec, content["application/json"]["schema"])))
    return found


@pytest.fixture
def demo_app(make_clocked_app: Callable[..., FastAPI]) -> FastAPI:
    # Every write route times every server-owned field is more writes than one key's rate limit
    # allows in a window: limits are not what this test is about (tests/api/test_ratelimit.py).
    app = make_clocked_app(rate_limit_writes_per_key=0, rate_limit_writes_per_ip=0)
    seed_demo(app.state.ctx)
    return app


def test_server_owned_fields_are_refused_on_every_write_route(
    demo_app: FastAPI, call: Caller
) -> None:
    spec = call(demo_app, "GET", "/openapi.json").json()
    routes = write_bodies(spec)
    assert len(routes) >= 8  # projects, keys, prompts, versions, labels, rollback, calls, scores
    failures: list[str] = []
    checked: set[tuple[str, str]] = set()
    for method, path, schema in routes:
        if (method, path) in INGEST_ROUTES:
            continue
        assert schema.get("additionalProperties") is False, (
            f"{method.upper()} {path}: request schema must be closed"
        )
        declared = set(schema.get("properties", {}))
        url = path.format_map({**dict.fromkeys(_params(path), "x"), **PATH_VALUES})
        for field in SERVER_OWNED:
            if field in declared:  # a client input by design (e.g. the version a label moves to)
                continue
            body = {**minimal(spec, schema), field: "sha256:" + "0" * 64}
            response = call(demo_app, method.upper(), url, token=ADMIN_KEY, json=body)
            error = (
                response.json().get("error", {})
                if response.headers.get("content-type", "").startswith("application/json")
                else {}
            )
            if (
                response.status_code != 422
                or error.get("field") != field
                or field not in error.get("message", "")
            ):
                failures.append(
                    f"{method.upper()} {path} with {field!r}: {response.status_code} {response.text[:200]}"
                )
            checked.add((method, field))
    assert not failures, "\n".join(failures)
    for field in ("digest", "number", "version", "author", "created_at"):
        assert ("post", field) in checked  # the version write refuses its server-owned fields


def _params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def test_ingest_ignores_server_owned_fields(demo_app: FastAPI, call: Caller) -> None:
    p = f"{BASE}/{PROJECT}"
    resolved = call(
        demo_app, "GET", f"{p}/prompts/booking.system/resolve?label=prod", token=ADMIN_KEY
    ).json()
    injected = {
        "project": "someone-else",
        "created_at": "1999-01-01T00:00:00Z",
        "seq": 999,
        "hash": "f" * 64,
        "prev_hash": "e" * 64,
        "state": "approved",
        "approved": True,
    }
    record = {
        "id": "c-mass-1",
        "prompt": "booking.system",
        "label": "prod",
        "version": resolved["version"],
        "digest": resolved["digest"],
        **injected,
    }
    accepted = call(
        demo_app, "POST", f"{p}/calls", token=ADMIN_KEY, json={"calls": [record], **injected}
    )
    assert accepted.status_code == 202, accepted.text
    score = {"call_id": "c-mass-1", "name": "csat", "value": 5, **injected}
    assert (
        call(demo_app, "POST", f"{p}/scores", token=ADMIN_KEY, json={"scores": [score]}).status_code
        == 202
    )
    stored = call(demo_app, "GET", f"{p}/calls/c-mass-1", token=ADMIN_KEY).json()
    for item in (stored, *stored["scores"]):
        for key, value in injected.items():
            assert item.get(key) != value, (key, item)
