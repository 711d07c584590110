"""Keys that expire, a project's maximum key lifetime, and rotation (issue 11, defect 10)."""

from __future__ import annotations

from datetime import timedelta

from promptstage.domain.models import iso_utc
from promptstage.service.key_lifetime import EXPIRY_LEEWAY
from support import governance as governance_helpers
from support.governance import P, World

database_url = governance_helpers.database_url
world = governance_helpers.world


def _key(w: World, who: str, **body: object) -> dict[str, object]:
    made: dict[str, object] = w.ok(
        "admin", "POST", f"{P}/keys", 201, json={"role": "editor", **body}
    )
    w.keys[who] = str(made["token"])
    return made


def test_an_expired_key_is_refused_with_when_it_expired(world: World) -> None:
    expires = world.clock.now + timedelta(hours=1)
    made = _key(world, "short", expires_at=iso_utc(expires))
    assert made["expires_at"] == iso_utc(expires)
    world.ok("short", "GET", f"{P}/prompts")  # works, and is cached now
    world.clock.now = expires + EXPIRY_LEEWAY / 2
    world.ok("short", "GET", f"{P}/prompts")  # inside the leeway
    world.clock.now = expires + EXPIRY_LEEWAY
    error = world.ok("short", "GET", f"{P}/prompts", 401)["error"]
    assert "expired" in error["message"] and iso_utc(expires) in error["message"]
    assert error["field"] == "Authorization"


def test_expires_at_must_be_a_future_time_with_a_zone(world: World) -> None:
    for bad in ("2026-02-01T11:00:00Z", "2030-01-01T00:00:00", "tomorrow"):
        error = world.ok(
            "admin", "POST", f"{P}/keys", 422, json={"role": "editor", "expires_at": bad}
        )["error"]
        assert error["field"] == "expires_at"


def test_the_project_bounds_the_lifetime_of_peoples_keys_not_services(world: World) -> None:
    settings = {"protected_labels": ["prod"], "four_eyes": True, "max_key_lifetime_days": 30}
    assert world.ok("admin", "PUT", f"{P}/settings", json=settings) == settings
    now = world.clock.now
    made = _key(world, "person")
    assert made["expires_at"] == iso_utc(now + timedelta(days=30))  # the maximum, by default
    error = world.ok(
        "admin",
        "POST",
        f"{P}/keys",
        422,
        json={"role": "editor", "expires_at": iso_utc(now + timedelta(days=31))},
    )["error"]
    assert error["field"] == "expires_at" and "30 days" in error["message"]
    world.ok("admin", "POST", f"{P}/principals", 201, json={"name": "bot", "kind": "service"})
    assert _key(world, "bot", principal="bot")["expires_at"] is None
    bad = {**settings, "max_key_lifetime_days": 0}
    assert world.ok("admin", "PUT", f"{P}/settings", 422, json=bad)["error"]["field"] == (
        "max_key_lifetime_days"
    )


def test_rotation_issues_a_successor_and_the_old_key_works_until_the_grace_ends(
    world: World,
) -> None:
    world.ok("admin", "POST", f"{P}/principals", 201, json={"name": "carol", "kind": "person"})
    old = _key(world, "old", principal="carol", role="releaser", name="laptop")
    rotated = world.ok(
        "admin", "POST", f"{P}/keys/{old['prefix']}/rotate", 201, json={"grace_seconds": 600}
    )
    world.keys["new"] = rotated["token"]
    assert (rotated["principal"], rotated["role"], rotated["name"]) == (
        "carol",
        "releaser",
        "laptop",
    )
    assert rotated["prefix"] != old["prefix"]
    assert rotated["previous"]["expires_at"] == iso_utc(world.clock.now + timedelta(minutes=10))
    world.ok("old", "GET", f"{P}/prompts")
    world.ok("new", "GET", f"{P}/prompts")
    world.clock.advance(11 / 60)
    assert "expired" in world.ok("old", "GET", f"{P}/prompts", 401)["error"]["message"]
    world.ok("new", "GET", f"{P}/prompts")
    again = world.ok("admin", "POST", f"{P}/keys/{old['prefix']}/rotate", 409)["error"]
    assert again["field"] == "prefix"
    actions = [r["action"] for r in world.ok("admin", "GET", f"{P}/audit")["items"]]
    assert "key.rotate" in actions


def test_rotation_with_no_grace_revokes_the_old_key_at_once(world: World) -> None:
    old = _key(world, "old")
    rotated = world.ok(
        "admin", "POST", f"{P}/keys/{old['prefix']}/rotate", 201, json={"grace_seconds": 0}
    )
    assert rotated["previous"]["revoked_at"] is not None
    assert "revoked" in world.ok("old", "GET", f"{P}/prompts", 401)["error"]["message"]
    world.keys["new"] = rotated["token"]
    world.ok("new", "GET", f"{P}/prompts")


def test_keys_need_an_existing_principal_when_one_is_named(world: World) -> None:
    error = world.ok(
        "admin", "POST", f"{P}/keys", 404, json={"role": "editor", "principal": "nobody"}
    )["error"]
    assert error["field"] == "principal" and "principals" in error["message"]
    bad = world.ok(
        "admin", "POST", f"{P}/principals", 422, json={"name": "Al Ice", "kind": "person"}
    )
    assert bad["error"]["field"] == "name"
    reserved = {"name": "instance-admin", "kind": "service"}
    assert (
        "reserved"
        in world.ok("admin", "POST", f"{P}/principals", 422, json=reserved)["error"]["message"]
    )
    world.ok("admin", "POST", f"{P}/principals", 201, json={"name": "dave", "kind": "person"})
    world.ok("admin", "POST", f"{P}/principals", 409, json={"name": "dave", "kind": "person"})
    names = [p["name"] for p in world.ok("admin", "GET", f"{P}/principals")["items"]]
    assert "dave" in names
    world.ok("releaser", "POST", f"{P}/principals", 403, json={"name": "eve", "kind": "person"})
