"""Runtime key compromise (threat 20): a runtime key reads its own project only, and a revoked
key is refused at once by the replica that revoked it and by the others within the bound."""

from __future__ import annotations

from collections.abc import Callable

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


def _key(app: FastAPI, call: Caller, project: str, role: str) -> str:
    made = call(app, "POST", f"{BASE}/{project}/keys", token=ADMIN_KEY, json={"role": role})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def test_a_runtime_key_reads_its_project_and_nothing_else(
    make_clocked_app: Callable[..., FastAPI], call: Caller
) -> None:
    app = make_clocked_app()
    for name in ("mine", "theirs"):
        assert call(app, "POST", BASE, token=ADMIN_KEY, json={"name": name}).status_code == 201
    runtime = _key(app, call, "mine", "runtime")
    assert call(app, "GET", f"{BASE}/mine/snapshot", token=runtime).status_code == 200
    refused = [
        ("POST", f"{BASE}/mine/keys", {"role": "admin"}),  # admin endpoint
        ("POST", f"{BASE}/mine/prompts", {"name": "p", "type": "text"}),  # editor endpoint
        ("GET", f"{BASE}/mine/audit", None),
        ("GET", f"{BASE}/theirs/snapshot", None),  # another project (BOLA)
        ("POST", BASE, {"name": "new"}),  # instance level
    ]
    for method, path, body in refused:
        response = call(app, method, path, token=runtime, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "permission_denied"


class Ticks:
    """A monotonic clock the test moves by hand (the key cache's lifetime is measured by it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_revoked_key_is_refused_within_the_documented_bound(
    make_clocked_app: Callable[..., FastAPI], call: Caller
) -> None:
    bound = 30.0  # PROMPTSTAGE_AUTH_CACHE_SECONDS; judged on the injected clock, not wall time
    ticks = Ticks()
    one, two = (
        make_clocked_app(auth_cache_seconds=bound, monotonic=ticks),
        make_clocked_app(auth_cache_seconds=bound, monotonic=ticks),
    )
    assert call(one, "POST", BASE, token=ADMIN_KEY, json={"name": "rev"}).status_code == 201
    runtime = _key(one, call, "rev", "runtime")
    for replica in (one, two):  # both replicas have the key cached
        assert call(replica, "GET", f"{BASE}/rev/snapshot", token=runtime).status_code == 200
    prefix = runtime.split("_")[1]
    assert call(one, "DELETE", f"{BASE}/rev/keys/{prefix}", token=ADMIN_KEY).status_code == 200
    assert (
        call(one, "GET", f"{BASE}/rev/snapshot", token=runtime).status_code == 401
    )  # at once here
    ticks.now += bound  # the other replica may serve its cache until the bound, not after
    assert call(two, "GET", f"{BASE}/rev/snapshot", token=runtime).status_code == 401, (
        "the other replica kept accepting a revoked key past the bound"
    )
