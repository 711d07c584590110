"""What the fuzzer found, pinned: documented error answers and auth, 405 with Allow, ISO `since`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY, BASE, Caller

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call


@pytest.fixture
def app(make_clocked_app: Callable[..., FastAPI]) -> FastAPI:
    return make_clocked_app()


def test_every_api_operation_documents_its_key_and_error_answers(
    app: FastAPI, call: Caller
) -> None:
    spec = call(app, "GET", "/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    operations = [
        (path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) > 20
    for path, method, operation in operations:
        if not path.startswith("/api/"):
            assert "security" not in operation, path  # health, metrics: no key
            continue
        # The Langfuse-compatible API: HTTP Basic with a key pair, errors in Langfuse's shape.
        foreign = path.startswith("/api/public/")
        key, error = ("basic", "LangfuseError") if foreign else ("bearer", "Error")
        assert operation["security"] == [{key: []}], (method, path)
        for status in ("401", "403", "404", "422", "429", "503"):
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{error}"}, (method, path, status)
        assert "Retry-After" in operation["responses"]["429"]["headers"]
        assert ("413" in operation["responses"]) == (method != "get")


def test_405_lists_every_method_of_the_resource(app: FastAPI, call: Caller) -> None:
    response = call(app, "PATCH", BASE, token=ADMIN_KEY)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed" and "use GET, POST" in error["message"]


@pytest.mark.parametrize("since", ["0.5", "1700000000", "-1", "1e9"])
def test_calls_since_is_an_iso_date_time_not_a_number(
    app: FastAPI, call: Caller, since: str
) -> None:
    assert call(app, "POST", BASE, token=ADMIN_KEY, json={"name": "iso"}).status_code == 201
    response = call(app, "GET", f"{BASE}/iso/calls", token=ADMIN_KEY, params={"since": since})
    assert response.status_code == 422 and response.json()["error"]["field"] == "since"
    ok = call(
        app, "GET", f"{BASE}/iso/calls", token=ADMIN_KEY, params={"since": "2026-11-26T17:00:00Z"}
    )
    assert ok.status_code == 200
