"""The dependency catalog over HTTP (routes/deps.py): roles, audit, impact, bump and drift."""

from __future__ import annotations

from typing import Any

from .client import BASE, Seeded

P = f"{BASE}/acme"
GPT = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


def _catalog(seeded: Seeded) -> Any:
    editor = seeded.client("editor")
    for kind, name, version, body in (
        ("index", "kb", "7", {"document_count": 10}),
        ("index", "kb", "8", {"document_count": 12}),
        ("model", "openai/gpt-4o", "2024-08-06", None),
    ):
        editor.ok("POST", f"{P}/deps", 201,
                  json={"kind": kind, "name": name, "version": version, "body": body})  # fmt: skip
    editor.ok("POST", f"{P}/prompts", 201, json={"name": "agent", "type": "text"})
    editor.ok(
        "POST",
        f"{P}/prompts/agent/versions",
        201,
        json={
            "template": "Answer {{ q }}",
            "config": {
                "model": {"model": "openai/gpt-4o@2024-08-06"},
                "retrieval": {"index": "kb@7"},
            },
        },
    )
    editor.ok("PUT", f"{P}/prompts/agent/labels/staging", json={"version": 1})
    return editor


def test_runtime_keys_see_nothing_and_editors_write_with_audit(seeded: Seeded) -> None:
    runtime = seeded.client("runtime")
    runtime.ok("GET", f"{P}/deps", 403)
    runtime.ok("POST", f"{P}/deps", 403, json={"kind": "index", "name": "kb", "version": "1"})
    runtime.ok("GET", f"{P}/deps/impact", 403, params={"dep": "index:kb"})
    _catalog(seeded)
    items = seeded.client("editor").ok("GET", f"{P}/deps")["items"]
    assert [i["ref"] for i in items] == [
        "index:kb@7",
        "index:kb@8",
        "model:openai/gpt-4o@2024-08-06",
    ]
    audit = seeded.admin.ok("GET", f"{P}/audit", params={"limit": 100})["items"]
    assert [a["target"] for a in audit if a["action"] == "dep.register"] == [
        "dep:model:openai/gpt-4o@2024-08-06", "dep:index:kb@8", "dep:index:kb@7",
    ]  # fmt: skip


def test_bad_input_names_the_field(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    err = editor.ok("POST", f"{P}/deps", 422, json={"kind": "vector", "name": "kb", "version": "1"})
    assert err["error"]["field"] == "kind"
    err = editor.ok("GET", f"{P}/deps/impact", 422, params={"dep": "kb@7"})
    assert err["error"]["field"] == "dep" and "index:kb@7" in err["error"]["message"]
    _catalog(seeded)
    err = editor.ok(
        "POST", f"{P}/deps", 409, json={"kind": "index", "name": "kb", "version": "7", "body": {}}
    )
    assert "immutable" in err["error"]["message"]


def test_impact_bump_and_the_stale_labels_of_a_new_version(seeded: Seeded) -> None:
    editor = _catalog(seeded)
    found = editor.ok("GET", f"{P}/deps/impact", params={"dep": "index:kb@7"})
    assert found["versions"] == [{"prompt": "agent", "version": 1, "pinned": "7"}]
    assert [(u["prompt"], u["label"]) for u in found["labels"]] == [("agent", "staging")]
    new = editor.ok("POST", f"{P}/deps", 201,
                    json={"kind": "index", "name": "kb", "version": "9", "body": {}})  # fmt: skip
    assert [(u["label"], u["pinned"]) for u in new["stale_labels"]] == [("staging", "7")]
    bumped = editor.ok("POST", f"{P}/deps/bump", json={"dep": "index:kb@8", "label": "staging"})
    assert bumped["items"] == [
        {"prompt": "agent", "base": 1, "version": 2, "previous": "7", "created": True}
    ]
    v2 = editor.ok("GET", f"{P}/prompts/agent/versions/2")
    assert v2["config"]["retrieval"] == {"index": "kb", "version": "8"}
    entry = editor.ok("GET", f"{P}/deps/entry", params={"dep": "index:kb@8"})
    assert entry["impact"]["versions"] == [{"prompt": "agent", "version": 2, "pinned": "8"}]


def test_drift_is_counted_per_label_and_shown_on_the_version(seeded: Seeded) -> None:
    editor = _catalog(seeded)
    v1 = editor.ok("GET", f"{P}/prompts/agent/versions/1")
    call: dict[str, Any] = {
        "prompt": "agent", "label": "staging", "version": 1, "digest": v1["digest"],
    }  # fmt: skip
    seeded.client("runtime").ok(
        "POST",
        f"{P}/calls",
        202,
        json={
            "calls": [
                {**call, "id": "a", "model": "gpt-4o-2024-08-06", "index": "kb@7"},
                {**call, "id": "b", "model": "gpt-4o-2024-11-20", "index": "kb@8"},
                {**call, "id": "c", "model": "gpt-4o-2024-11-20", "tools": ["search"]},
            ]
        },
    )
    items = editor.ok("GET", f"{P}/prompts/agent/versions/1/drift")["items"]
    seen = sorted((d["kind"], d["expected"], d["observed"], d["count"]) for d in items)
    assert seen == [
        ("index", "kb@7", "kb@8", 1),
        ("model", "openai/gpt-4o@2024-08-06", "gpt-4o-2024-11-20", 2),
        ("tool", "none", "search", 1),
    ]
    assert editor.ok("GET", f"{P}/deps/drift", params={"label": "prod"})["items"] == []
    err = seeded.client("runtime").ok(
        "POST", f"{P}/calls", 422, json={"calls": [{**call, "id": "d", "index": "kb"}]}
    )
    assert err["error"]["field"] == "calls[0].index"


def test_deprecations(seeded: Seeded) -> None:
    editor = _catalog(seeded)
    dep = "model:openai/gpt-4o@2024-08-06"
    err = editor.ok("PUT", f"{P}/deps/retirement", 422, json={"dep": dep, "retires_on": "soon"})
    assert err["error"]["field"] == "retires_on"
    editor.ok("PUT", f"{P}/deps/retirement", json={"dep": dep, "retires_on": "2000-01-01"})
    items = editor.ok("GET", f"{P}/deps/deprecations")["items"]
    assert [d["dep"] for d in items] == [dep]
    assert ("agent", "staging") in {(u["prompt"], u["label"]) for u in items[0]["labels"]}
    assert items[0]["days_left"] < 0
