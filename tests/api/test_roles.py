"""The role matrix (threat rows 20, 21): docs/roles.md is generated from ``api.roles.ROUTES``,
every OpenAPI route is in it, and every route allows exactly the callers it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promptstage.api.roles import ANY_KEY, INSTANCE, PUBLIC, ROUTES, render_markdown
from promptstage.domain.models import Role
from support import governance as governance_helpers
from support.governance import World

# The governance fixtures (tests/support/governance.py), resolved here before this folder's conftest.
database_url = governance_helpers.database_url
world = governance_helpers.world

DOCS = Path(__file__).resolve().parents[2] / "docs" / "roles.md"
CALLERS = ("runtime", "editor", "releaser", "admin", "instance", None, "revoked", "other")
PARAMS = {
    "project": "acme",
    "name": "greet",
    "label": "staging",
    "number": "1",
    "prefix": "000000000000",
    "call_id": "c1",
    "release_id": "rel_x",
    "webhook_id": "wh_x",
    "request_id": "cr_x",
    "run_id": "run_x",
    "replay_id": "replay_x",
    "version": "1",
}
# Valid bodies where the handler (not a dependency) checks the role, so 422 cannot hide a 403.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects"): {"name": "walked"},
    ("PUT", "/api/v1/projects/{project}/prompts/{name}/labels/{label}"): {"version": 2},
    ("PUT", "/api/v1/projects/{project}/settings"): {
        "protected_labels": ["prod"],
        "four_eyes": True,
    },
}
QUERY = {
    "/api/v1/projects/{project}/events": {"since": -1}
}  # 422 once past auth: no endless stream


def _allowed(need: str, caller: str | None, own_project: bool = False) -> bool:
    if own_project:  # the Langfuse API acts on the key's own project ("other": an admin key)
        if caller in (None, "revoked", "instance"):
            return False
        return Role("admin" if caller == "other" else caller).allows(Role(need))
    if need == PUBLIC:
        return True
    if caller in (None, "revoked"):
        return False
    if need == ANY_KEY or caller == "instance":
        return True
    if need == INSTANCE or caller == "other":
        return False
    assert caller is not None
    return Role(caller).allows(Role(need))


def test_docs_roles_md_is_generated_from_the_matrix() -> None:
    assert DOCS.read_text() == render_markdown(), (
        "regenerate: python -c 'from promptstage.api.roles import render_markdown; print(render_markdown(), end=\"\")' > docs/roles.md"
    )


def test_every_route_walks_as_the_matrix_says(world: World) -> None:
    spec = world.ok(None, "GET", "/openapi.json")
    routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert routes == set(ROUTES), "add new routes to promptstage.api.roles.ROUTES"
    wrong = []
    for (method, template), need in ROUTES.items():
        path = template.format(**PARAMS)
        for caller in CALLERS:
            response = world.call(
                caller,
                method,
                path,
                json=BODIES.get((method, template)),
                params=QUERY.get(template),
            )
            denied = response.status_code in (401, 403)
            if denied == _allowed(need.role, caller, need.own_project):
                wrong.append((method, template, caller, response.status_code, response.text[:120]))
            if denied:
                expected = 401 if caller in (None, "revoked") else 403
                if response.status_code != expected:
                    wrong.append(
                        (method, template, caller, response.status_code, "expected", expected)
                    )
    assert wrong == []


@pytest.mark.parametrize("caller", ["editor", "runtime"])
def test_protected_labels_need_a_releaser(world: World, caller: str) -> None:
    for method, suffix in (("PUT", ""), ("DELETE", ""), ("POST", "/rollback")):
        body = {"version": 2} if method == "PUT" else None
        path = f"/api/v1/projects/acme/prompts/greet/labels/prod{suffix}"
        assert world.call(caller, method, path, json=body).status_code == 403
