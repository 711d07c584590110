"""UI users over HTTP (routes/users.py): admin only, never a password or hash in an answer."""

from __future__ import annotations

from .client import BASE, Seeded

P = f"{BASE}/acme"
PASSWORD = "correct horse battery"


def test_an_admin_creates_lists_grants_and_revokes_users(seeded: Seeded) -> None:
    admin = seeded.client("admin")
    created = admin.ok(
        "POST", f"{P}/users", 201, json={"name": "erin", "role": "editor", "password": PASSWORD}
    )
    assert {k: created[k] for k in ("project", "name", "role", "has_password")} == {
        "project": "acme",
        "name": "erin",
        "role": "editor",
        "has_password": True,
    }
    assert admin.ok("PUT", f"{P}/users/erin/role", json={"role": "releaser"})["role"] == "releaser"
    listed = admin.ok("GET", f"{P}/users")
    assert [(u["name"], u["role"]) for u in listed["items"]] == [("erin", "releaser")]
    audit = admin.ok("GET", f"{P}/audit?limit=500")
    for text in (str(created), str(listed), str(audit)):
        assert PASSWORD not in text and "argon2" not in text
    changed = admin.ok("PUT", f"{P}/users/erin/password", json={"password": "another passphrase"})
    assert changed == {"project": "acme", "name": "erin", "password_changed": True}
    assert admin.ok("DELETE", f"{P}/users/erin")["role"] is None
    assert admin.ok("GET", f"{P}/users")["items"] == []
    error = admin.ok("DELETE", f"{P}/users/erin", 404)["error"]
    assert error["field"] == "name"


def test_users_need_the_admin_role_of_the_project(seeded: Seeded) -> None:
    body = {"name": "erin", "role": "editor", "password": PASSWORD}
    for who in ("runtime", "editor", "releaser", "other-editor"):
        seeded.client(who).ok("POST", f"{P}/users", 403, json=body)
        seeded.client(who).ok("GET", f"{P}/users", 403)


def test_runtime_role_and_weak_passwords_are_refused_naming_the_field(seeded: Seeded) -> None:
    admin = seeded.client("admin")
    runtime = {"name": "erin", "role": "runtime", "password": PASSWORD}
    error = admin.ok("POST", f"{P}/users", 422, json=runtime)["error"]
    assert error["field"] == "role"
    weak = {"name": "erin", "role": "editor", "password": "short"}
    error = admin.ok("POST", f"{P}/users", 422, json=weak)["error"]
    assert error["field"] == "password" and "12" in error["message"]


def test_a_project_admin_cannot_reset_a_user_of_another_project(seeded: Seeded) -> None:
    instance = seeded.client("instance")
    body = {"name": "alice", "role": "editor", "password": PASSWORD}
    instance.ok("POST", f"{P}/users", 201, json=body)
    instance.ok("POST", f"{BASE}/other/users", 201, json={"name": "alice", "role": "admin"})
    new = {"password": "taken over by acme"}
    error = seeded.client("admin").ok("PUT", f"{P}/users/alice/password", 403, json=new)["error"]
    assert error["field"] == "name" and "other" in error["message"]
    instance.ok("PUT", f"{P}/users/alice/password", json=new)
