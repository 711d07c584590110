"""A prompt's life apart from its versions (service/prompt_lifecycle.py): created with its
first version atomically, edited, archived and unarchived."""

from __future__ import annotations

from .client import BASE, Seeded, text_version

P = f"{BASE}/acme"


def _names(api: object, path: str) -> list[str]:
    body = api.ok("GET", path)  # type: ignore[attr-defined]
    return [p["name"] for p in body["items"]]


def test_a_prompt_and_its_first_version_are_created_together(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    created = editor.ok(
        "POST",
        f"{P}/prompts",
        201,
        json={"name": "fresh", "type": "text", "version": text_version("Hi {{ who }}")},
    )
    assert created["latest_version"] == 1 and created["labels"] == {"latest": 1}
    assert created["version"]["version"] == 1 and created["version"]["created"] is True
    assert editor.ok("GET", f"{P}/prompts/fresh/versions/1")["template"] == "Hi {{ who }}"


def test_a_refused_first_version_leaves_no_prompt_behind(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    refused = editor.ok(
        "POST",
        f"{P}/prompts",
        422,
        json={"name": "broken", "type": "text", "version": text_version("{% if x %}hi{% endif %}")},
    )
    assert "Jinja-style block" in refused["error"]["message"]
    editor.ok("GET", f"{P}/prompts/broken", 404)
    assert "broken" not in _names(editor, f"{P}/prompts")
    # The name is free and the type can still be chosen.
    editor.ok("POST", f"{P}/prompts", 201, json={"name": "broken", "type": "chat"})


def test_description_and_tags_can_be_edited_and_are_audited(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    edited = editor.ok(
        "PATCH", f"{P}/prompts/greet", json={"description": "Greets", "tags": ["x", "y"]}
    )
    assert edited["description"] == "Greets" and edited["tags"] == ["x", "y"]
    only_tags = editor.ok("PATCH", f"{P}/prompts/greet", json={"tags": []})
    assert only_tags["description"] == "Greets" and only_tags["tags"] == []
    audit = seeded.admin.ok("GET", f"{P}/audit")["items"]
    updates = [row["after"]["tags"] for row in audit if row["action"] == "prompt.update"]
    assert updates[:2] == [[], ["x", "y"]]
    editor.ok("PATCH", f"{P}/prompts/greet", 422, json={"tags": ["t"] * 40})
    editor.ok("PATCH", f"{P}/prompts/nope", 404, json={"tags": []})


def test_archiving_a_prompt_a_label_serves_is_a_conflict_naming_the_labels(
    seeded: Seeded,
) -> None:
    body = seeded.client("editor").ok("POST", f"{P}/prompts/greet/archive", 409)
    assert body["error"]["field"] == "labels"
    assert "prod" in body["error"]["message"] and "staging" in body["error"]["message"]
    assert body["error"]["details"]["labels"] == ["prod", "staging"]


def test_an_archived_prompt_leaves_lists_and_snapshots_and_comes_back(seeded: Seeded) -> None:
    editor, runtime = seeded.client("editor"), seeded.client("runtime")
    editor.ok("POST", f"{P}/prompts", 201, json={"name": "old", "type": "text"})
    editor.ok("POST", f"{P}/prompts/old/versions", 201, json=text_version("Old"))
    assert "old" in runtime.ok("GET", f"{P}/snapshot")["prompts"]

    archived = editor.ok("POST", f"{P}/prompts/old/archive")
    assert archived["archived_at"] is not None
    assert "old" not in _names(editor, f"{P}/prompts")
    assert _names(editor, f"{P}/prompts?archived=true") == ["old"]
    snapshot = runtime.ok("GET", f"{P}/snapshot")
    assert "old" not in snapshot["prompts"]
    assert not any(key.startswith("old@") for key in snapshot["versions"])
    runtime.ok("GET", f"{P}/prompts/old/resolve", 404, params={"label": "latest"})
    # Nothing is written to or moved on an archived prompt.
    refused = editor.ok("POST", f"{P}/prompts/old/versions", 409, json=text_version("New"))
    assert "unarchive" in refused["error"]["message"]
    editor.ok("PUT", f"{P}/prompts/old/labels/staging", 409, json={"version": 1})
    editor.ok("POST", f"{P}/prompts/old/archive")  # idempotent

    editor.ok("POST", f"{P}/prompts/old/unarchive")
    assert "old" in _names(editor, f"{P}/prompts")
    assert runtime.ok("GET", f"{P}/snapshot")["prompts"]["old"]["labels"] == {"latest": 1}
    actions = [
        row["action"]
        for row in seeded.admin.ok("GET", f"{P}/audit")["items"]
        if row["target"] == "prompt:old"
    ]
    assert {"prompt.archive", "prompt.unarchive"} <= set(actions)
