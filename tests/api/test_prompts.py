"""Projects, prompts, versions and diffs over HTTP (routes/prompts.py, routes/admin.py)."""

from __future__ import annotations

from typing import Any

from promptstage.domain.canonical import version_digest

from .client import BASE, MODEL, Api, Seeded, text_version

P = f"{BASE}/acme"


def test_create_and_list_projects(admin: Api) -> None:
    created = admin.ok("POST", BASE, 201, json={"name": "clinic", "description": "Clinic agents"})
    assert created["name"] == "clinic" and created["description"] == "Clinic agents"
    assert created["created_at"].endswith("Z")
    admin.ok("POST", BASE, 201, json={"name": "bank"})
    listed = admin.ok("GET", BASE)
    assert [p["name"] for p in listed["items"]] == ["bank", "clinic"]
    assert listed["next_cursor"] is None


def test_duplicate_project_is_a_conflict(admin: Api) -> None:
    admin.ok("POST", BASE, 201, json={"name": "clinic"})
    body = admin.ok("POST", BASE, 409, json={"name": "clinic"})
    assert body["error"]["field"] == "name"


def test_project_keys_see_only_their_project(seeded: Seeded) -> None:
    listed = seeded.client("runtime").ok("GET", BASE)
    assert [p["name"] for p in listed["items"]] == ["acme"]


def test_create_and_get_a_prompt(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    created = editor.ok(
        "POST",
        f"{P}/prompts",
        201,
        json={
            "name": "router.intent",
            "type": "text",
            "description": "Routes",
            "tags": ["a", "b", "a"],
        },
    )
    assert created == {
        "name": "router.intent",
        "type": "text",
        "description": "Routes",
        "tags": ["a", "b"],
        "latest_version": None,
        "created_at": created["created_at"],
        "archived_at": None,
        "labels": {},
    }
    got = editor.ok("GET", f"{P}/prompts/router.intent")
    assert got["labels"] == {} and got["releases"] == [] and got["latest_version"] is None


def test_get_prompt_lists_labels_with_implicit_latest(seeded: Seeded) -> None:
    got = seeded.admin.ok("GET", f"{P}/prompts/greet")
    assert got["labels"] == {"prod": 2, "staging": 3, "latest": 3}
    assert got["latest_version"] == 3
    assert got["tags"] == ["demo"]


def test_list_prompts_pages_with_limit_and_cursor(seeded: Seeded) -> None:
    admin = seeded.admin
    for i in range(4):
        admin.ok("POST", f"{P}/prompts", 201, json={"name": f"bulk.{i}", "type": "text"})
    expected = sorted(["bulk.0", "bulk.1", "bulk.2", "bulk.3", "chatty", "greet", "shared.tone"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = admin.ok("GET", f"{P}/prompts", params=params)
        pages += 1
        assert len(page["items"]) <= 3
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


def test_bad_cursor_is_rejected(seeded: Seeded) -> None:
    for cursor in ("garbage!", "eyJwIjogMX0", "e30"):  # not base64 JSON; a number for a name; {}
        body = seeded.admin.ok("GET", f"{P}/prompts", 422, params={"cursor": cursor})
        assert body["error"]["field"] == "cursor", cursor


def test_write_version_201_then_200_for_the_same_digest(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    body = {
        "template": "Bye {{ name }}.",
        "variables": [{"name": "name", "type": "string"}],
        "config": {"model": MODEL, "params": {"temperature": 0.2}},
        "message": "bye",
    }
    first = editor.ok("POST", f"{P}/prompts/greet/versions", 201, json=body)
    assert first["version"] == 4 and first["created"] is True and first["parent"] == 3
    assert first["message"] == "bye" and first["author"].startswith("key:")
    assert first["digest"] == version_digest(
        "text",
        "Bye {{ name }}.",
        [{"name": "name", "type": "string", "required": True}],
        {
            "model": MODEL,
            "params": {"temperature": 0.2},
            "tools": [],
            "retrieval": None,
            "postprocess": None,
            "metadata": {},
        },
    )
    # Same content, other spelling (defaults explicit, other message): the same version, 200.
    again = editor.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        200,
        json={
            **body,
            "message": "again",
            "config": {"params": {"temperature": 0.2}, "model": MODEL, "tools": [], "metadata": {}},
        },
    )
    assert (again["version"], again["digest"], again["created"]) == (4, first["digest"], False)
    assert again["message"] == "bye"
    assert seeded.admin.ok("GET", f"{P}/prompts/greet")["latest_version"] == 4


def test_write_version_infers_variables_when_omitted(seeded: Seeded) -> None:
    body = seeded.admin.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        201,
        json=text_version("{{ b }} {{ a }} {{ b }} {{> shared.tone@1 }}"),
    )
    assert body["variables"] == [
        {"name": "a", "type": None, "required": True},
        {"name": "b", "type": None, "required": True},
    ]
    assert body["includes"] == {"shared.tone@1": "Be kind."}


def test_write_version_with_undeclared_variable_is_rejected(seeded: Seeded) -> None:
    body = seeded.admin.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        422,
        json=text_version("{{ a }} {{ b }}", variables=["a"]),
    )
    assert body["error"]["code"] == "template_error"
    assert body["error"]["field"] == "variables"
    assert "'b'" in body["error"]["message"]


def test_include_variables_must_be_declared_too(seeded: Seeded) -> None:
    admin = seeded.admin
    admin.ok("POST", f"{P}/prompts/shared.tone/versions", 201, json=text_version("Be {{ mood }}."))
    body = admin.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        422,
        json=text_version("{{> shared.tone@2 }} {{ name }}", variables=["name"]),
    )
    assert body["error"]["field"] == "variables" and "mood" in body["error"]["message"]


def test_chat_version(seeded: Seeded) -> None:
    got = seeded.admin.ok("GET", f"{P}/prompts/chatty/versions/1")
    assert got["type"] == "chat"
    assert got["template"] == [{"role": "system", "content": "Help {{ user }}."}]
    assert got["variables"] == [{"name": "user", "type": "string", "required": True}]


def test_list_and_get_versions(seeded: Seeded) -> None:
    admin = seeded.admin
    page = admin.ok("GET", f"{P}/prompts/greet/versions", params={"limit": 2})
    assert [v["version"] for v in page["items"]] == [3, 2]
    rest = admin.ok(
        "GET", f"{P}/prompts/greet/versions", params={"limit": 2, "cursor": page["next_cursor"]}
    )
    assert [v["version"] for v in rest["items"]] == [1] and rest["next_cursor"] is None
    one = admin.ok("GET", f"{P}/prompts/greet/versions/2")
    assert one == page["items"][1]
    assert one["template"] == "Hi {{ name }}!" and one["config"]["model"] == MODEL
    assert set(one) == {
        "prompt",
        "version",
        "digest",
        "type",
        "template",
        "variables",
        "config",
        "includes",
        "author",
        "message",
        "parent",
        "created_at",
    }


def test_diff(seeded: Seeded) -> None:
    admin = seeded.admin
    admin.ok(
        "POST",
        f"{P}/prompts/greet/versions",
        201,
        json={
            "template": "Hi {{ name }}!",
            "config": {"model": {**MODEL, "version": "2024-11-20"}},
        },
    )
    body = admin.ok("GET", f"{P}/prompts/greet/diff", params={"from": 1, "to": 4})
    assert (body["from"], body["to"], body["type_changed"]) == (1, 4, False)
    assert "-Hello {{ name }}." in body["template"] and "+Hi {{ name }}!" in body["template"]
    assert body["config"] == [
        {"field": "model.version", "from": "2024-08-06", "to": "2024-11-20", "change": "changed"},
    ]
    assert body["variables"] == []
    same = admin.ok("GET", f"{P}/prompts/greet/diff", params={"from": 2, "to": 2})
    assert same["template"] == "" and same["config"] == []
