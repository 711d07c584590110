"""Protected labels and four-eyes change requests (threat rows 1 and 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from promptstage.store.sql.tables import versions
from support import governance as governance_helpers
from support.governance import MODEL, G, P, World

# The governance fixtures (tests/support/governance.py), resolved here before this folder's conftest.
database_url = governance_helpers.database_url
world = governance_helpers.world


def _request(
    w: World, version: int = 2, who: str = "releaser", **extra: object
) -> dict[str, object]:
    body = w.ok(
        who,
        "PUT",
        f"{G}/labels/prod",
        202,
        json={"version": version, "reason": "ship", "expected_version": 1, **extra},
    )
    cr: dict[str, object] = body["change_request"]
    return cr


def _audit(w: World) -> list[dict[str, object]]:
    items: list[dict[str, object]] = w.ok("instance", "GET", f"{P}/audit", params={"limit": 500})[
        "items"
    ]
    return items


def test_a_releasers_move_of_prod_opens_a_request_and_changes_nothing(world: World) -> None:
    before = world.ok("instance", "GET", f"{P}/snapshot")["seq"]
    cr = _request(world)
    assert set(cr) >= {
        "id",
        "kind",
        "prompt",
        "label",
        "version",
        "digest",
        "expected_version",
        "state",
        "requested_by",
        "created_at",
        "expires_at",
    }
    assert (cr["kind"], cr["label"], cr["version"], cr["state"]) == (
        "label.move",
        "prod",
        2,
        "open",
    )
    assert str(cr["digest"]).startswith("sha256:")
    assert world.label() == 1
    assert world.ok("instance", "GET", f"{P}/snapshot")["seq"] == before  # no event
    assert _audit(world)[0]["action"] == "change_request.open"


def test_self_approval_is_refused(world: World) -> None:
    cr = _request(world)
    error = world.ok("releaser", "POST", f"{P}/change-requests/{cr['id']}/approve", 403)["error"]
    assert "different releaser" in error["message"]
    world.ok("releaser", "POST", f"{P}/change-requests/{cr['id']}/reject", 403)
    assert world.label() == 1


def test_approval_applies_the_move_with_its_audit_row_and_event_at_once(world: World) -> None:
    seq = world.ok("instance", "GET", f"{P}/snapshot")["seq"]
    cr = _request(world)
    body = world.ok(
        "releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", json={"reason": "lgtm"}
    )
    assert body["change_request"]["state"] == "approved" and body["applied"] == {"moved": True}
    assert world.label() == 2
    rows = _audit(world)
    assert [r["action"] for r in rows[:2]] == ["label.move", "change_request.approve"]
    assert rows[0]["seq"] == rows[1]["seq"] + 1 and rows[0]["at"] == rows[1]["at"]
    assert rows[0]["actor"] == rows[1]["actor"]
    snapshot = world.ok("instance", "GET", f"{P}/snapshot")
    assert snapshot["seq"] == seq + 1  # one label.moved event, committed with the audit rows
    again = world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)["error"]
    assert "approved, not open" in again["message"]


def test_approval_after_the_label_moved_meanwhile_is_a_conflict(world: World) -> None:
    cr = _request(world, expected_version=1)
    world.ok(
        "instance", "PUT", f"{G}/labels/prod", json={"version": 3, "expected_version": 1}
    )  # break-glass
    error = world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)["error"]
    assert error["field"] == "expected_version"
    assert world.label() == 3
    listed = world.ok("releaser2", "GET", f"{P}/change-requests", params={"state": "open"})["items"]
    assert [c["id"] for c in listed] == [cr["id"]]  # stays open: reject it, open a new one


def test_a_tampered_version_digest_refuses_the_approval(world: World) -> None:
    cr = _request(world)
    with world.store.engine.begin() as conn:
        conn.execute(
            update(versions)
            .where(versions.c.prompt == "greet", versions.c.number == 2)
            .values(digest="sha256:" + "0" * 64)
        )
    error = world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)["error"]
    assert error["field"] == "digest"
    assert world.label() == 1


def test_reject_leaves_the_label_unchanged(world: World) -> None:
    cr = _request(world)
    body = world.ok(
        "releaser2", "POST", f"{P}/change-requests/{cr['id']}/reject", json={"reason": "no"}
    )
    assert body["change_request"]["state"] == "rejected"
    assert body["change_request"]["decided_by"] != cr["requested_by"]
    assert world.label() == 1
    assert _audit(world)[0]["action"] == "change_request.reject"
    world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)


def test_requests_expire(world: World) -> None:
    cr = _request(world)
    world.clock.advance(24)
    error = world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)["error"]
    assert "expired" in error["message"]
    expired = world.ok("releaser", "GET", f"{P}/change-requests", params={"state": "expired"})[
        "items"
    ]
    assert [c["id"] for c in expired] == [cr["id"]]
    assert (
        world.ok("releaser", "GET", f"{P}/change-requests", params={"state": "open"})["items"] == []
    )
    assert world.label() == 1


def test_rollback_needs_no_approval_and_is_flagged(world: World) -> None:
    cr = _request(world)
    world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve")
    body = world.ok("releaser", "POST", f"{G}/labels/prod/rollback", json={"reason": "incident"})
    assert body["version"] == 1 and world.label() == 1
    row = _audit(world)[0]
    assert row["action"] == "label.rollback" and row["after"] == {
        "version": 1,
        "four_eyes_bypass": "rollback",
    }


def test_the_instance_admin_key_is_break_glass_and_flagged(world: World) -> None:
    world.ok("instance", "PUT", f"{G}/labels/prod", json={"version": 2, "expected_version": 1})
    assert world.label() == 2
    assert _audit(world)[0]["after"] == {"version": 2, "four_eyes_bypass": "break_glass"}


def test_editors_cannot_touch_protected_labels(world: World) -> None:
    for method, path, body in (
        ("PUT", f"{G}/labels/prod", {"version": 2}),
        ("DELETE", f"{G}/labels/prod", None),
        ("POST", f"{G}/labels/prod/rollback", {"to_version": 2}),
    ):
        error = world.ok("editor", method, path, 403, json=body)["error"]
        assert error["needed_role"] == "releaser" if "needed_role" in error else True
    world.ok("editor", "PUT", f"{G}/labels/staging", json={"version": 2})
    assert world.label() == 1 and world.label("staging") == 2


def test_a_project_key_cannot_remove_a_protected_label_under_four_eyes(world: World) -> None:
    error = world.ok("releaser", "DELETE", f"{G}/labels/prod", 403)["error"]
    assert error["field"] == "label" and "break-glass" in error["message"]


def test_protected_labels_are_configurable(world: World) -> None:
    assert world.ok("admin", "GET", f"{P}/settings") == {
        "protected_labels": ["prod"],
        "four_eyes": True,
        "max_key_lifetime_days": None,
    }
    world.ok("releaser", "GET", f"{P}/settings", 403)
    new = {"protected_labels": ["staging"], "four_eyes": True, "max_key_lifetime_days": None}
    # Unprotecting prod weakens governance: break-glass here (a project admin's opens a request).
    assert world.ok("instance", "PUT", f"{P}/settings", json=new) == new
    world.ok("editor", "PUT", f"{G}/labels/prod", json={"version": 2})  # no longer protected
    world.ok("editor", "PUT", f"{G}/labels/staging", 403, json={"version": 2})
    cas = {"version": 2, "expected_version": 1}
    world.ok("releaser", "PUT", f"{G}/labels/staging", 202, json=cas)
    world.ok(
        "instance",
        "PUT",
        f"{P}/settings",
        json={"protected_labels": ["staging"], "four_eyes": False},
    )
    world.ok("releaser", "PUT", f"{G}/labels/staging", json={"version": 3, "expected_version": 1})
    assert world.label("staging") == 3
    error = world.ok(
        "admin",
        "PUT",
        f"{P}/settings",
        422,
        json={"protected_labels": ["latest"], "four_eyes": True},
    )
    assert error["error"]["field"] == "protected_labels[0]"


def test_a_release_on_prod_waits_for_approval_then_starts(world: World) -> None:
    start = {"prompt": "greet", "label": "prod", "candidate_version": 2, "strategy": "canary"}
    cr = world.ok("releaser", "POST", f"{P}/releases", 202, json=start)["change_request"]
    assert cr["kind"] == "release.start" and cr["expected_version"] == 1
    assert world.ok("instance", "GET", f"{P}/releases")["items"] == []
    body = world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve")
    release = world.ok("instance", "GET", f"{P}/releases/{body['applied']['release_id']}")
    assert release["state"] == "running" and release["candidate_version"] == 2


def test_the_evidence_export_lists_the_approval(world: World) -> None:
    cr = _request(world)
    world.clock.advance(1)
    world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve")
    lines = world.call("instance", "GET", f"{P}/audit/export").text.splitlines()
    import json

    moves = [json.loads(x) for x in lines if '"label.move"' in x]
    approved = [m for m in moves if m["approvals"]]
    assert len(approved) == 1
    assert approved[0]["approvals"][0]["change_request"] == cr["id"]
    assert approved[0]["approvals"][0]["requested_by"] == cr["requested_by"]


def test_a_move_decided_under_settings_that_changed_meanwhile_is_refused(tmp_path: Path) -> None:
    from promptstage.domain.governance import ProjectSettings
    from promptstage.errors import ConflictError
    from promptstage.service import governance, labels, prompts
    from promptstage.service.bus import EventBus
    from promptstage.service.context import Context
    from promptstage.store.sql import SqlStore

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'race.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        prompts.create_project(ctx, "admin", "race")
        prompts.create_prompt(ctx, "admin", "race", "p", "text")
        for text in ("one", "two"):
            prompts.write_version(
                ctx,
                "admin",
                "race",
                "p",
                template=text,
                config={"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
            )
        seen = governance.get_settings(ctx, "race")
        # Between the route's check and the move, an admin protects the label.
        governance.update_settings(
            ctx, "admin", "race", ProjectSettings(protected_labels=("prod", "beta"), four_eyes=True)
        )
        with pytest.raises(ConflictError) as caught:
            labels.move_label(ctx, "key:x", "race", "p", "beta", 2, settings_seen=seen)
        assert caught.value.field == "settings"
        with store.unit_of_work() as uow:
            assert "beta" not in uow.get_labels("race", "p")
    finally:
        store.close()


# Principals (issue 11, defect 1): four-eyes counts people, never keys ---------------------


def _principal(w: World, name: str, kind: str = "person") -> None:
    w.ok("admin", "POST", f"{P}/principals", 201, json={"name": name, "kind": kind})


def _issue(w: World, who: str, principal: str, role: str = "releaser") -> str:
    body = w.ok("admin", "POST", f"{P}/keys", 201, json={"role": role, "principal": principal})
    assert body["principal"] == principal
    w.keys[who] = body["token"]
    prefix: str = body["prefix"]
    return prefix


def test_a_second_key_of_the_same_person_cannot_approve_her_own_request(world: World) -> None:
    _principal(world, "alice")
    first = _issue(world, "alice1", "alice")
    _issue(world, "alice2", "alice")
    cr = _request(world, who="alice1")
    assert cr["requested_by"] == f"alice (key:{first})"
    path = f"{P}/change-requests/{cr['id']}"
    error = world.ok("alice2", "POST", f"{path}/approve", 403)["error"]
    assert "alice" in error["message"] and "same principal" in error["message"]
    world.ok("alice2", "POST", f"{path}/reject", 403)
    assert world.label() == 1


def test_the_author_of_a_version_cannot_approve_it_with_another_key(world: World) -> None:
    _principal(world, "bob")
    _issue(world, "bob-writer", "bob", role="editor")
    _issue(world, "bob-releaser", "bob")
    version = world.ok(
        "bob-writer",
        "POST",
        f"{G}/versions",
        201,
        json={"template": "Hi v4", "config": {"model": MODEL}},
    )["version"]
    cr = _request(world, version=version)  # opened by another principal
    error = world.ok("bob-releaser", "POST", f"{P}/change-requests/{cr['id']}/approve", 403)
    assert "written by bob" in error["error"]["message"]
    assert world.label() == 1
    world.ok("releaser2", "POST", f"{P}/change-requests/{cr['id']}/approve")  # someone else may
    assert world.label() == version


def test_a_service_account_can_neither_approve_nor_reject(world: World) -> None:
    _principal(world, "booking-agent", kind="service")
    _issue(world, "agent", "booking-agent")
    cr = _request(world)
    path = f"{P}/change-requests/{cr['id']}"
    for action in ("approve", "reject"):
        error = world.ok("agent", "POST", f"{path}/{action}", 403)["error"]
        assert "service account" in error["message"]
    assert world.label() == 1


def test_the_audit_trail_and_label_history_name_the_principal_beside_the_key(
    world: World,
) -> None:
    _principal(world, "alice")
    _principal(world, "bob")
    a = _issue(world, "alice", "alice")
    b = _issue(world, "bob", "bob")
    cr = _request(world, who="alice")
    world.ok("bob", "POST", f"{P}/change-requests/{cr['id']}/approve")
    rows = _audit(world)
    assert rows[0]["actor"] == f"bob (key:{b})" and rows[0]["action"] == "label.move"
    opened = next(r for r in rows if r["action"] == "change_request.open")
    assert opened["actor"] == f"alice (key:{a})"
    listed = world.ok("bob", "GET", f"{P}/change-requests")["items"]
    decided = next(c for c in listed if c["id"] == cr["id"])
    assert decided["decided_by"] == f"bob (key:{b})"
    history = world.ok("instance", "GET", f"{G}/labels/prod/history")["items"]
    assert history[0]["actor"] == f"bob (key:{b})"
    assert world.ok("instance", "GET", f"{P}/audit/verify")["ok"] is True


# -- weakening governance is itself four-eyes (issue 11, defect 2) -------------------------------

OFF = {"protected_labels": ["prod"], "four_eyes": False, "max_key_lifetime_days": None}


def _second_admin(w: World) -> None:
    w.keys["admin2"] = w.ok("instance", "POST", f"{P}/keys", 201, json={"role": "admin"})["token"]


def test_one_admin_cannot_switch_four_eyes_off_ship_prod_and_switch_it_back(world: World) -> None:
    # The walk-around: four-eyes off, move prod, four-eyes on; each step answered 200 before.
    body = world.ok("admin", "PUT", f"{P}/settings", 202, json=OFF)
    cr = body["change_request"]
    assert (cr["kind"], cr["state"]) == ("project.settings", "open")
    assert cr["params"] == {
        "before": {"protected_labels": ["prod"], "four_eyes": True, "max_key_lifetime_days": None},
        "after": OFF,
    }
    assert world.ok("admin", "GET", f"{P}/settings")["four_eyes"] is True
    world.ok("admin", "PUT", f"{G}/labels/prod", 202, json={"version": 2, "expected_version": 1})
    assert world.label() == 1
    assert _audit(world)[1]["action"] == "change_request.open"


def test_unprotecting_a_label_is_weakening_too(world: World) -> None:
    unprotect = {"protected_labels": [], "four_eyes": True, "reason": "tidy"}
    body = world.ok("admin", "PUT", f"{P}/settings", 202, json=unprotect)
    assert body["change_request"]["params"]["after"]["protected_labels"] == []
    assert body["change_request"]["reason"] == "tidy"
    world.ok("editor", "PUT", f"{G}/labels/prod", 403, json={"version": 2, "expected_version": 1})


def test_strengthening_applies_at_once(world: World) -> None:
    stronger = {
        "protected_labels": ["prod", "staging"],
        "four_eyes": True,
        "max_key_lifetime_days": None,
    }
    assert world.ok("admin", "PUT", f"{P}/settings", json=stronger) == stronger
    assert _audit(world)[0]["action"] == "project.settings"


def test_another_admin_approves_a_weakening_and_only_then_it_applies(world: World) -> None:
    _second_admin(world)
    cr = world.ok("admin", "PUT", f"{P}/settings", 202, json=OFF)["change_request"]
    approve = f"{P}/change-requests/{cr['id']}/approve"
    error = world.ok("releaser", "POST", approve, 403)["error"]
    assert error["details"]["needed_role"] == "admin"
    world.ok("releaser", "POST", f"{P}/change-requests/{cr['id']}/reject", 403)
    assert "different" in world.ok("admin", "POST", approve, 403)["error"]["message"]
    body = world.ok("admin2", "POST", approve, json={"reason": "agreed"})
    assert body["applied"] == {"settings": OFF}
    assert world.ok("admin", "GET", f"{P}/settings") == OFF
    rows = _audit(world)
    assert [r["action"] for r in rows[:2]] == ["project.settings", "change_request.approve"]
    assert rows[0]["after"] == OFF and rows[0]["reason"] == f"change request {cr['id']}"


def test_a_weakening_approved_after_the_settings_changed_meanwhile_is_a_conflict(
    world: World,
) -> None:
    _second_admin(world)
    cr = world.ok("admin", "PUT", f"{P}/settings", 202, json=OFF)["change_request"]
    stronger = {
        "protected_labels": ["prod", "staging"],
        "four_eyes": True,
        "max_key_lifetime_days": None,
    }
    world.ok("admin", "PUT", f"{P}/settings", json=stronger)
    error = world.ok("admin2", "POST", f"{P}/change-requests/{cr['id']}/approve", 409)["error"]
    assert error["field"] == "settings"
    assert world.ok("admin", "GET", f"{P}/settings") == stronger


def test_the_instance_admin_key_weakens_at_once_flagged_as_break_glass(world: World) -> None:
    assert world.ok("instance", "PUT", f"{P}/settings", json=OFF) == OFF
    row = _audit(world)[0]
    assert row["action"] == "project.settings"
    assert row["after"] == {**OFF, "four_eyes_bypass": "break_glass"}


def test_with_four_eyes_already_off_settings_apply_at_once(world: World) -> None:
    world.ok("instance", "PUT", f"{P}/settings", json=OFF)
    unprotected = {"protected_labels": [], "four_eyes": False, "max_key_lifetime_days": None}
    assert world.ok("admin", "PUT", f"{P}/settings", json=unprotected) == unprotected


def test_a_request_for_a_new_label_records_that_it_must_not_exist(world: World) -> None:
    stronger = {"protected_labels": ["prod", "canary"], "four_eyes": True}
    world.ok("admin", "PUT", f"{P}/settings", json=stronger)
    body = world.ok(
        "releaser",
        "PUT",
        f"{G}/labels/canary",
        202,
        json={"version": 2, "expected_version": None},
    )
    canary = body["change_request"]
    assert canary["params"] == {"expect_absent": True}
    world.ok("instance", "PUT", f"{G}/labels/canary", json={"version": 1, "expected_version": None})
    error = world.ok("releaser2", "POST", f"{P}/change-requests/{canary['id']}/approve", 409)
    assert error["error"]["field"] == "expected_version"
    assert world.label("canary") == 1
