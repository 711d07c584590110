"""API keys and the audit trail over HTTP (routes/admin.py)."""

from __future__ import annotations

from itertools import pairwise

from .client import BASE, Seeded

P = f"{BASE}/acme"


def test_create_key_shows_the_token_once(seeded: Seeded) -> None:
    admin = seeded.client("admin")
    created = admin.ok("POST", f"{P}/keys", 201, json={"role": "runtime", "name": "agent fleet"})
    token = created["token"]
    prefix, secret = token.removeprefix("ps_").split("_")
    assert created["prefix"] == prefix and len(secret) >= 32
    assert (created["role"], created["name"], created["project"], created["revoked_at"]) == (
        "runtime",
        "agent fleet",
        "acme",
        None,
    )
    listed = admin.ok("GET", f"{P}/keys")
    assert listed["next_cursor"] is None
    mine = [k for k in listed["items"] if k["prefix"] == prefix]
    assert len(mine) == 1 and "token" not in mine[0]
    assert secret not in str(listed) and secret not in str(admin.ok("GET", f"{P}/audit"))
    assert seeded.admin.as_key(token).ok("GET", f"{P}/snapshot")["project"] == "acme"


def test_list_keys_shows_roles_and_revocations(seeded: Seeded) -> None:
    items = seeded.admin.ok("GET", f"{P}/keys")["items"]
    assert sorted(k["role"] for k in items) == ["admin", "editor", "editor", "releaser", "runtime"]
    revoked = [k for k in items if k["revoked_at"] is not None]
    assert [k["prefix"] for k in revoked] == [seeded.keys["revoked"].split("_")[1]]


def test_revoked_key_is_refused_at_once(seeded: Seeded) -> None:
    token = seeded.make_key("editor")
    client = seeded.admin.as_key(token)
    client.ok("GET", f"{P}/prompts")  # now cached by the authenticator
    body = seeded.client("admin").ok("DELETE", f"{P}/keys/{token.split('_')[1]}")
    assert body["revoked_at"] is not None
    error = client.ok("GET", f"{P}/prompts", 401)["error"]
    assert (error["code"], error["field"]) == ("unauthenticated", "Authorization")
    assert "revoked" in error["message"]


def test_revoking_twice_is_idempotent(seeded: Seeded) -> None:
    prefix = seeded.keys["revoked"].split("_")[1]
    audit_before = seeded.admin.ok("GET", f"{P}/audit")
    again = seeded.admin.ok("DELETE", f"{P}/keys/{prefix}")
    assert again["revoked_at"] is not None
    assert seeded.admin.ok("GET", f"{P}/audit") == audit_before


def test_keys_need_the_admin_role(seeded: Seeded) -> None:
    for who in ("runtime", "editor", "releaser"):
        error = seeded.client(who).ok("POST", f"{P}/keys", 403, json={"role": "admin"})["error"]
        assert error["code"] == "permission_denied", who
        seeded.client(who).ok("GET", f"{P}/keys", 403)


def test_audit_lists_every_change_newest_first(seeded: Seeded) -> None:
    items = seeded.admin.ok("GET", f"{P}/audit", params={"limit": 500})["items"]
    seqs = [a["seq"] for a in items]
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1
    actions = [a["action"] for a in reversed(items)]
    assert actions[:3] == [
        "project.create",
        "project.settings",
        "prompt.create",
    ]  # the fixture turns four-eyes off
    assert actions.count("version.create") == 5 and actions.count("label.move") == 3
    assert actions.count("key.create") == 5 and actions[-1] == "key.revoke"
    move = next(a for a in items if a["action"] == "label.move" and a["after"] == {"version": 2})
    assert (move["target"], move["before"], move["reason"], move["actor"]) == (
        "label:greet/prod",
        {"version": 1},
        "seed",
        "instance-admin",
    )
    for newer, older in pairwise(items):
        assert newer["prev_hash"] == older["hash"]


def test_audit_pages(seeded: Seeded) -> None:
    everything = seeded.admin.ok("GET", f"{P}/audit", params={"limit": 500})["items"]
    seen, cursor = [], None
    while True:
        page = seeded.admin.ok(
            "GET", f"{P}/audit", params={"limit": 4, **({"cursor": cursor} if cursor else {})}
        )
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


def test_audit_verify(seeded: Seeded) -> None:
    items = seeded.admin.ok("GET", f"{P}/audit")["items"]
    report = seeded.client("editor").ok("GET", f"{P}/audit/verify")
    assert report == {
        "ok": True,
        "checked": len(items),
        "head": items[0]["hash"],
        "first_bad_seq": None,
        "problem": None,
    }


def test_projects_have_separate_audit_chains(seeded: Seeded) -> None:
    other = seeded.admin.ok("GET", f"{BASE}/other/audit")["items"]
    assert [a["action"] for a in reversed(other)] == ["project.create", "key.create"]
    assert seeded.admin.ok("GET", f"{BASE}/other/audit/verify")["ok"] is True


def test_audit_needs_an_editor(seeded: Seeded) -> None:
    seeded.client("runtime").ok("GET", f"{P}/audit", 403)
    seeded.client("runtime").ok("GET", f"{P}/audit/verify", 403)
