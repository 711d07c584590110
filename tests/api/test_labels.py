"""Labels over HTTP: move with compare-and-set, delete, history, rollback (routes/labels.py)."""

from __future__ import annotations

from .client import BASE, Seeded

G = f"{BASE}/acme/prompts/greet"


def labels(seeded: Seeded) -> dict[str, int]:
    found: dict[str, int] = seeded.admin.ok("GET", G)["labels"]
    return found


def test_move_a_label(seeded: Seeded) -> None:
    body = seeded.client("editor").ok(
        "PUT", f"{G}/labels/canary", json={"version": 3, "reason": "try it"}
    )
    assert body["changed"] is True and body["version"] == 3
    move = body["move"]
    assert (move["kind"], move["version"], move["previous"], move["reason"]) == (
        "move",
        3,
        None,
        "try it",
    )
    assert move["actor"] == f"key:{seeded.keys['editor'].split('_')[1]}"
    assert labels(seeded)["canary"] == 3


def test_moving_to_the_current_version_changes_nothing(seeded: Seeded) -> None:
    before = seeded.state()
    body = seeded.client("releaser").ok(
        "PUT", f"{G}/labels/prod", json={"version": 2, "expected_version": 2}
    )
    assert (body["changed"], body["move"]) == (False, None)
    assert seeded.state() == before


def test_compare_and_set(seeded: Seeded) -> None:
    releaser = seeded.client("releaser")
    body = releaser.ok("PUT", f"{G}/labels/prod", json={"version": 3, "expected_version": 2})
    assert body["move"]["previous"] == 2
    error = releaser.ok("PUT", f"{G}/labels/prod", 409, json={"version": 1, "expected_version": 2})[
        "error"
    ]
    assert (error["code"], error["field"]) == ("version_mismatch", "expected_version")
    assert error["details"] == {"current_version": 3}
    assert labels(seeded)["prod"] == 3


def test_expected_version_null_means_the_label_must_not_exist(seeded: Seeded) -> None:
    editor = seeded.client("editor")
    editor.ok("PUT", f"{G}/labels/canary", json={"version": 1, "expected_version": None})
    error = editor.ok(
        "PUT", f"{G}/labels/canary", 409, json={"version": 2, "expected_version": None}
    )["error"]
    assert error["field"] == "expected_version"
    # Omitting expected_version is not the same as null: no check at all.
    editor.ok("PUT", f"{G}/labels/canary", json={"version": 2})
    assert labels(seeded)["canary"] == 2


def test_delete_a_label(seeded: Seeded) -> None:
    body = seeded.client("editor").ok("DELETE", f"{G}/labels/staging", params={"reason": "cleanup"})
    assert body == {"prompt": "greet", "label": "staging", "deleted": True}
    assert "staging" not in labels(seeded)
    history = seeded.admin.ok("GET", f"{G}/labels/staging/history")["items"]
    assert (
        history[0]["kind"],
        history[0]["version"],
        history[0]["previous"],
        history[0]["reason"],
    ) == (
        "delete",
        None,
        3,
        "cleanup",
    )


def test_history_is_newest_first_and_paged(seeded: Seeded) -> None:
    releaser = seeded.client("releaser")
    releaser.ok("PUT", f"{G}/labels/prod", json={"version": 3, "expected_version": 2})
    releaser.ok("POST", f"{G}/labels/prod/rollback")
    items = seeded.admin.ok("GET", f"{G}/labels/prod/history")["items"]
    assert [(m["kind"], m["version"], m["previous"]) for m in items] == [
        ("rollback", 2, 3),
        ("move", 3, 2),
        ("move", 2, 1),
        ("move", 1, None),
    ]
    first = seeded.admin.ok("GET", f"{G}/labels/prod/history", params={"limit": 3})
    assert first["items"] == items[:3]
    rest = seeded.admin.ok(
        "GET", f"{G}/labels/prod/history", params={"limit": 3, "cursor": first["next_cursor"]}
    )
    assert rest == {"items": items[3:], "next_cursor": None}


def test_history_of_latest_and_of_unknown_labels_is_empty(seeded: Seeded) -> None:
    for label in ("latest", "never-set"):
        assert seeded.admin.ok("GET", f"{G}/labels/{label}/history") == {
            "items": [],
            "next_cursor": None,
        }


def test_rollback_to_the_previous_version(seeded: Seeded) -> None:
    body = seeded.client("releaser").ok(
        "POST", f"{G}/labels/prod/rollback", json={"reason": "bad tone"}
    )
    assert (body["version"], body["previous"]) == (1, 2)
    assert (body["move"]["kind"], body["move"]["reason"]) == ("rollback", "bad tone")
    assert labels(seeded)["prod"] == 1


def test_rollback_twice_undoes_the_rollback(seeded: Seeded) -> None:
    releaser = seeded.client("releaser")
    releaser.ok("POST", f"{G}/labels/prod/rollback")
    assert releaser.ok("POST", f"{G}/labels/prod/rollback")["version"] == 2


def test_rollback_to_a_named_version(seeded: Seeded) -> None:
    body = seeded.client("editor").ok(
        "POST", f"{G}/labels/staging/rollback", json={"to_version": 1}
    )
    assert (body["version"], body["previous"]) == (1, 3)
    assert labels(seeded)["staging"] == 1


def test_rollback_without_history_needs_to_version(seeded: Seeded) -> None:
    error = seeded.client("editor").ok("POST", f"{G}/labels/staging/rollback", 422)["error"]
    assert error["field"] == "to_version"


def test_latest_cannot_be_moved_deleted_or_rolled_back(seeded: Seeded) -> None:
    admin = seeded.admin
    for method, path, body in (
        ("PUT", f"{G}/labels/latest", {"version": 1}),
        ("DELETE", f"{G}/labels/latest", None),
        ("POST", f"{G}/labels/latest/rollback", {"to_version": 1}),
    ):
        error = admin.ok(method, path, 422, json=body)["error"]
        assert error["field"] == "label" and "latest" in error["message"], method
    assert labels(seeded)["latest"] == 3


def test_label_moves_follow_new_versions_only_for_latest(seeded: Seeded) -> None:
    seeded.admin.ok(
        "POST",
        f"{G}/versions",
        201,
        json={
            "template": "v4 {{ name }}",
            "config": {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
        },
    )
    assert labels(seeded) == {"prod": 2, "staging": 3, "latest": 4}


# -- compare-and-set is required on protected labels (issue 11, defect 5) ------------------------


def test_a_protected_label_is_never_overwritten_blindly(seeded: Seeded) -> None:
    response = seeded.client("releaser").put(f"{G}/labels/prod", json={"version": 3})
    assert response.status_code == 428
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("precondition_required", "expected_version")
    assert "expected_version" in error["message"] and "If-Match" in error["message"]
    assert labels(seeded)["prod"] == 2
    # The instance admin key too: break-glass skips four-eyes, not compare-and-set.
    assert seeded.admin.put(f"{G}/labels/prod", json={"version": 3}).status_code == 428
    # An unprotected label may still be moved without a precondition.
    seeded.client("editor").ok("PUT", f"{G}/labels/canary", json={"version": 1})


def test_if_match_with_the_labels_etag_is_the_precondition(seeded: Seeded) -> None:
    releaser = seeded.client("releaser")
    got = releaser.get(f"{G}/labels/prod")
    assert got.status_code == 200, got.text
    assert got.json() == {"prompt": "greet", "label": "prod", "version": 2}
    assert got.headers["etag"] == '"2"'
    moved = releaser.put(f"{G}/labels/prod", json={"version": 3}, headers={"If-Match": '"2"'})
    assert moved.status_code == 200 and moved.json()["move"]["previous"] == 2
    assert moved.headers["etag"] == '"3"'
    stale = releaser.put(f"{G}/labels/prod", json={"version": 1}, headers={"If-Match": '"2"'})
    assert stale.status_code == 409
    assert stale.json()["error"]["details"] == {"current_version": 3}
    for bad in ("*", 'W/"3"', "3", '"3", "4"'):
        response = releaser.put(f"{G}/labels/prod", json={"version": 1}, headers={"If-Match": bad})
        assert response.status_code == 422 and response.json()["error"]["field"] == "If-Match"
    both = releaser.put(
        f"{G}/labels/prod", json={"version": 1, "expected_version": 2}, headers={"If-Match": '"3"'}
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "If-Match"
    assert labels(seeded)["prod"] == 3
    assert releaser.get(f"{G}/labels/nope").status_code == 404
