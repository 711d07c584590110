"""Every refused request: its documented status, the one error shape naming the field, and
nothing stored changed (snapshot, audit, label history, every table row).

One seeded project per backend serves the whole module: a refused request must leave it as it
was, and each case checks exactly that before and after.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, table

from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .client import ADMIN_KEY, BASE, MODEL, Api, Seeded, assert_error_shape
from .databases import BACKENDS, PostgresDatabases, SqliteDatabases

UNSET: Any = object()
KIB = 1024


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str  # under /api/v1/projects/acme unless it starts with "/"
    status: int
    field: str | None
    who: str | None = "instance"  # a seeded key's name, "instance", None (no key) or a raw token
    json: Any = UNSET
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    code: str | None = None

    def __str__(self) -> str:
        return self.id


def v(template: Any, **extra: Any) -> dict[str, Any]:
    return {"template": template, "config": {"model": MODEL}, **extra}


JSON = {"Content-Type": "application/json"}
G = "prompts/greet"
CASES = [
    # names and shapes (422)
    Case("project-bad-name", "POST", BASE, 422, "name", json={"name": "Bad_Name"}),
    Case("project-name-type", "POST", BASE, 422, "name", json={"name": 5}),
    Case("project-duplicate", "POST", BASE, 409, "name", json={"name": "acme"}, code="conflict"),
    Case(
        "project-by-project-key",
        "POST",
        BASE,
        403,
        "Authorization",
        who="admin",
        json={"name": "x"},
    ),
    Case("prompt-bad-name", "POST", "prompts", 422, "name", json={"name": "-bad", "type": "text"}),
    Case(
        "prompt-name-too-long",
        "POST",
        "prompts",
        422,
        "name",
        json={"name": "x" * 129, "type": "text"},
    ),
    Case("prompt-bad-type", "POST", "prompts", 422, "type", json={"name": "ok", "type": "html"}),
    Case("prompt-missing-type", "POST", "prompts", 422, "type", json={"name": "ok"}),
    Case(
        "prompt-unknown-field",
        "POST",
        "prompts",
        422,
        "owner",
        json={"name": "ok", "type": "text", "owner": "me"},
    ),
    Case(
        "prompt-tags-type",
        "POST",
        "prompts",
        422,
        "tags[0]",
        json={"name": "ok", "type": "text", "tags": [1]},
    ),
    Case(
        "prompt-duplicate", "POST", "prompts", 409, "name", json={"name": "greet", "type": "chat"}
    ),
    Case(
        "prompt-nul",
        "POST",
        "prompts",
        422,
        "description",
        json={"name": "ok", "type": "text", "description": "a\x00b"},
    ),
    Case("list-bad-cursor", "GET", "prompts?cursor=nope", 422, "cursor"),
    Case(
        "list-huge-cursor",
        "GET",
        f"{G}/versions?cursor=eyJwIjogOTk5OTk5OTk5OTk5OTk5OTk5OTk5fQ",
        422,
        "cursor",
    ),
    Case("list-nul-cursor", "GET", "prompts?cursor=eyJwIjoiYVx1MDAwMCJ9", 422, "cursor"),
    Case("list-surrogate-cursor", "GET", "prompts?cursor=eyJwIjoiXHVkODAwIn0", 422, "cursor"),
    Case("path-nul", "GET", "prompts/a%00b", 422, "name"),
    Case("project-path-nul", "GET", f"{BASE}/a%00b/snapshot", 422, "project"),
    Case("list-limit-zero", "GET", "prompts?limit=0", 422, "limit"),
    Case("list-limit-type", "GET", "audit?limit=many", 422, "limit"),
    # unknown things (404)
    Case("unknown-project", "GET", f"{BASE}/nope/prompts", 404, "project"),
    Case(
        "unknown-project-write",
        "POST",
        f"{BASE}/nope/prompts",
        404,
        "project",
        json={"name": "x", "type": "text"},
    ),
    Case("unknown-prompt", "GET", "prompts/nope", 404, "prompt"),
    Case("unknown-prompt-write", "POST", "prompts/nope/versions", 404, "prompt", json=v("x")),
    Case("unknown-version", "GET", f"{G}/versions/99", 404, "version"),
    Case("huge-version", "GET", f"{G}/versions/99999999999999999999", 404, "version"),
    Case("version-not-a-number", "GET", f"{G}/versions/two", 422, "number"),
    Case("diff-unknown-from", "GET", f"{G}/diff?from=9&to=1", 404, "from"),
    Case("diff-missing-to", "GET", f"{G}/diff?from=1", 422, "to"),
    Case("move-unknown-version", "PUT", f"{G}/labels/canary", 404, "version", json={"version": 99}),
    Case("move-huge-version", "PUT", f"{G}/labels/canary", 404, "version", json={"version": 2**40}),
    Case(
        "move-unknown-prompt",
        "PUT",
        "prompts/nope/labels/canary",
        404,
        "prompt",
        json={"version": 1},
    ),
    Case("delete-unknown-label", "DELETE", f"{G}/labels/canary", 404, "label"),
    Case("rollback-unknown-label", "POST", f"{G}/labels/canary/rollback", 404, "label"),
    Case(
        "rollback-unknown-version",
        "POST",
        f"{G}/labels/prod/rollback",
        404,
        "to_version",
        json={"to_version": 99},
    ),
    Case("resolve-unknown-prompt", "GET", "prompts/nope/resolve", 404, "prompt"),
    Case("resolve-unknown-label", "GET", f"{G}/resolve?label=canary", 404, "label"),
    Case("snapshot-unknown-project", "GET", f"{BASE}/nope/snapshot", 404, "project"),
    Case("events-unknown-project", "GET", f"{BASE}/nope/events", 404, "project"),
    Case("revoke-unknown-key", "DELETE", "keys/abcdef", 404, "prefix"),
    Case("unknown-route", "GET", "/api/v2/nothing", 404, None),
    Case("method-not-allowed", "DELETE", "prompts", 405, None, code="method_not_allowed"),
    # malformed bodies (400) and wrong types (422)
    Case(
        "malformed-json",
        "POST",
        f"{G}/versions",
        400,
        None,
        content=b'{"template": "x",',
        headers=JSON,
        code="malformed_request",
    ),
    Case("body-not-an-object", "POST", f"{G}/versions", 400, None, content=b"[1, 2]", headers=JSON),
    Case("body-missing", "POST", f"{G}/versions", 400, None, content=b"", headers=JSON),
    Case(
        "body-not-utf8",
        "POST",
        f"{G}/versions",
        400,
        None,
        content=b'{"template": "\xff"}',
        headers=JSON,
    ),
    Case(
        "body-lone-surrogate",
        "POST",
        f"{G}/versions",
        422,
        "template",
        content=b'{"template": "\\ud800", "config": {"model": {"provider": "a", "name": "b", "version": "c"}}}',
        headers=JSON,
    ),
    Case(
        "body-too-deep",
        "POST",
        f"{G}/versions",
        422,
        "config.metadata" + ".a" * 63,
        content=json.dumps(
            v("x", config={"model": MODEL, "metadata": json.loads('{"a":' * 70 + "1" + "}" * 70)})
        ).encode(),
        headers=JSON,
    ),
    Case("template-type", "POST", f"{G}/versions", 422, "template", json=v(5)),
    Case(
        "config-type", "POST", f"{G}/versions", 422, "config", json={"template": "x", "config": []}
    ),
    Case("config-missing", "POST", f"{G}/versions", 422, "config", json={"template": "x"}),
    Case("message-type", "POST", f"{G}/versions", 422, "message", json=v("x", message=5)),
    Case(
        "label-version-string", "PUT", f"{G}/labels/canary", 422, "version", json={"version": "2"}
    ),
    Case("label-version-zero", "PUT", f"{G}/labels/canary", 422, "version", json={"version": 0}),
    Case("label-version-bool", "PUT", f"{G}/labels/canary", 422, "version", json={"version": True}),
    Case(
        "label-reason-too-long",
        "PUT",
        f"{G}/labels/canary",
        422,
        "reason",
        json={"version": 1, "reason": "x" * 1001},
    ),
    Case("label-bad-name", "PUT", f"{G}/labels/Prod", 422, "label", json={"version": 1}),
    Case("key-bad-role", "POST", "keys", 422, "role", json={"role": "god"}),
    # template errors (422)
    Case(
        "template-unclosed",
        "POST",
        f"{G}/versions",
        422,
        "template",
        json=v("Hi {{ name"),
        code="template_error",
    ),
    Case("template-logic", "POST", f"{G}/versions", 422, "template", json=v("{{ a + b }}")),
    Case(
        "template-label-include",
        "POST",
        f"{G}/versions",
        422,
        "template",
        json=v("{{> shared.tone@prod }}"),
    ),
    Case(
        "template-chat-for-text",
        "POST",
        f"{G}/versions",
        422,
        "template",
        json=v([{"role": "user", "content": "x"}]),
    ),
    Case(
        "template-chat-shape",
        "POST",
        "prompts/chatty/versions",
        422,
        "template",
        json=v("just text"),
    ),
    Case(
        "template-chat-role",
        "POST",
        "prompts/chatty/versions",
        422,
        "template[0].role",
        json=v([{"role": "wizard", "content": "x"}]),
    ),
    Case(
        "template-chat-logic",
        "POST",
        "prompts/chatty/versions",
        422,
        "template[1].content",
        json=v([{"role": "system", "content": "ok"}, {"role": "user", "content": "{{ a.b }}"}]),
    ),
    Case(
        "undeclared-variable",
        "POST",
        f"{G}/versions",
        422,
        "variables",
        json=v("{{ a }}{{ b }}", variables=["a"]),
    ),
    Case(
        "bad-variable",
        "POST",
        f"{G}/versions",
        422,
        "variables[0].type",
        json=v("{{ a }}", variables=[{"name": "a", "type": "str"}]),
    ),
    Case(
        "config-model-version",
        "POST",
        f"{G}/versions",
        422,
        "config.model.version",
        json={"template": "x", "config": {"model": {"provider": "openai", "name": "gpt-4o"}}},
    ),
    Case("include-cycle", "POST", f"{G}/versions", 422, "template", json=v("{{> greet@4 }}")),
    Case("include-future", "POST", f"{G}/versions", 422, "template", json=v("{{> greet@9 }}")),
    Case(
        "include-missing-version",
        "POST",
        f"{G}/versions",
        422,
        "template",
        json=v("{{> shared.tone@7 }}"),
    ),
    Case(
        "include-missing-prompt",
        "POST",
        f"{G}/versions",
        422,
        "template",
        json=v("{{> nowhere@1 }}"),
    ),
    Case(
        "include-chat-prompt", "POST", f"{G}/versions", 422, "template", json=v("{{> chatty@1 }}")
    ),
    Case(
        "template-over-256-kib", "POST", f"{G}/versions", 422, "template", json=v("x" * 300 * KIB)
    ),
    Case(
        "body-over-1-mib",
        "POST",
        f"{G}/versions",
        413,
        None,
        json=v("x" * 1100 * KIB),
        code="payload_too_large",
    ),
    Case("render-missing-variable", "GET", f"{G}/resolve?render=1", 422, "name"),
    Case("render-unknown-variable", "GET", f"{G}/resolve?render=1&var.name=a&var.x=1", 422, "x"),
    Case("resolve-nul", "GET", f"{G}/resolve?channel=%00", 422, "channel"),
    # labels: compare-and-set (409) and latest (422)
    Case(
        "cas-mismatch",
        "PUT",
        f"{G}/labels/prod",
        409,
        "expected_version",
        json={"version": 3, "expected_version": 1},
        code="version_mismatch",
    ),
    Case(
        "cas-must-not-exist",
        "PUT",
        f"{G}/labels/prod",
        409,
        "expected_version",
        json={"version": 3, "expected_version": None},
    ),
    Case(
        "cas-must-exist",
        "PUT",
        f"{G}/labels/canary",
        409,
        "expected_version",
        json={"version": 3, "expected_version": 2},
    ),
    Case(
        "protected-move-without-precondition",
        "PUT",
        f"{G}/labels/prod",
        428,
        "expected_version",
        json={"version": 3},
        code="precondition_required",
    ),
    Case("move-latest", "PUT", f"{G}/labels/latest", 422, "label", json={"version": 1}),
    Case("delete-latest", "DELETE", f"{G}/labels/latest", 422, "label"),
    Case("rollback-latest", "POST", f"{G}/labels/latest/rollback", 422, "label"),
    Case("rollback-no-history", "POST", f"{G}/labels/staging/rollback", 422, "to_version"),
    Case(
        "rollback-to-current",
        "POST",
        f"{G}/labels/prod/rollback",
        422,
        "to_version",
        json={"to_version": 2},
    ),
    # roles (403) and keys (401)
    Case(
        "runtime-writes-version",
        "POST",
        f"{G}/versions",
        403,
        "Authorization",
        who="runtime",
        json=v("x"),
        code="permission_denied",
    ),
    Case("runtime-lists-prompts", "GET", "prompts", 403, "Authorization", who="runtime"),
    Case(
        "editor-moves-prod",
        "PUT",
        f"{G}/labels/prod",
        403,
        "Authorization",
        who="editor",
        json={"version": 3},
    ),
    Case("editor-deletes-prod", "DELETE", f"{G}/labels/prod", 403, "Authorization", who="editor"),
    Case(
        "editor-rolls-back-prod",
        "POST",
        f"{G}/labels/prod/rollback",
        403,
        "Authorization",
        who="editor",
    ),
    Case(
        "editor-creates-key",
        "POST",
        "keys",
        403,
        "Authorization",
        who="editor",
        json={"role": "admin"},
    ),
    Case("releaser-revokes-key", "DELETE", "keys/abcdef", 403, "Authorization", who="releaser"),
    Case(
        "other-project-key",
        "POST",
        f"{G}/versions",
        403,
        "project",
        who="other-editor",
        json=v("x"),
    ),
    Case("other-project-key-reads", "GET", "snapshot", 403, "project", who="other-editor"),
    Case(
        "missing-key",
        "POST",
        f"{G}/versions",
        401,
        "Authorization",
        who=None,
        json=v("x"),
        code="unauthenticated",
    ),
    Case("missing-key-read", "GET", "snapshot", 401, "Authorization", who=None),
    Case(
        "revoked-key",
        "PUT",
        f"{G}/labels/canary",
        401,
        "Authorization",
        who="revoked",
        json={"version": 1},
    ),
    Case("unknown-key", "GET", "snapshot", 401, "Authorization", who="ps_0000000000aa_" + "f" * 64),
    Case(
        "wrong-secret",
        "GET",
        "snapshot",
        401,
        "Authorization",
        who=f"ps_{ADMIN_KEY.split('_')[1]}_wrong",
    ),
    Case("malformed-key", "GET", "snapshot", 401, "Authorization", who="not-a-key"),
]


@dataclass
class World:
    seeded: Seeded
    engine: Engine
    last: Any = None  # what the previous case left behind (each case reads it only once)

    def observe(self) -> Any:
        return self.seeded.state(), every_row(self.engine)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One copy of the seed per backend for the whole module (no test here uses
    ``database_url``, so nothing else touches the backend's database meanwhile)."""
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(
        f"{request.param}_databases"
    )
    if isinstance(databases, SqliteDatabases):
        url = databases.fresh(True, tmp_path_factory.mktemp("errors"))
    else:
        url = databases.fresh(True)
    store = SqlStore.from_url(url, migrate=True)
    try:
        with asyncio.Runner() as runner:
            app = create_app(
                Settings(admin_key=ADMIN_KEY, state_check_seconds=0.0, eval_gate=False), store=store
            )
            yield World(Seeded(Api(runner, app, ADMIN_KEY), dict(databases.keys)), store.engine)
    finally:
        store.close()


def every_row(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, as sorted text: the ground truth of "nothing changed"."""
    names = [n for n in inspect(engine).get_table_names() if n != "alembic_version"]
    with engine.connect() as connection:
        return {
            name: sorted(
                repr(tuple(row)) for row in connection.execute(select("*").select_from(table(name)))
            )
            for name in names
        }


def send(seeded: Seeded, case: Case) -> Any:
    path = case.path if case.path.startswith("/") else f"{BASE}/{seeded.project}/{case.path}"
    who = case.who
    token = ADMIN_KEY if who == "instance" else seeded.keys.get(who, who) if who else None
    kwargs: dict[str, Any] = {"headers": case.headers}
    if case.json is not UNSET:
        kwargs["json"] = case.json
    if case.content is not None:
        kwargs["content"] = case.content
    return seeded.admin.as_key(token).request(case.method, path, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_request_changes_nothing(world: World, case: Case) -> None:
    seeded = world.seeded
    before = world.last if world.last is not None else world.observe()
    response = send(seeded, case)
    world.last = after = world.observe()
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    error = assert_error_shape(response.json())
    assert error["field"] == case.field, error
    if case.code is not None:
        assert error["code"] == case.code
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    assert after[1] == before[1], "a refused request changed stored rows"
    assert after[0] == before[0], "a refused request changed what the API shows"


def test_world_is_what_the_cases_assume(world: World) -> None:
    """Guards the cases above against a change of the seed."""
    greet = world.seeded.admin.ok("GET", f"{BASE}/acme/prompts/greet")
    assert greet["labels"] == {"prod": 2, "staging": 3, "latest": 3}
    history = world.seeded.admin.ok("GET", f"{BASE}/acme/prompts/greet/labels/staging/history")
    assert len(history["items"]) == 1
