"""UI users (service/users.py): passwords, the password policy, roles per project, audit."""

from __future__ import annotations

import json

import pytest

from promptstage.domain.events import AuditAction
from promptstage.domain.models import Role
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from promptstage.service import passwords, principals, prompts, users
from promptstage.service.context import Context
from support import releases as helpers
from support.releases import PROJECT, USER

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

PASSWORD = "correct horse battery"
OTHER = "other-project"


def audit_rows(ctx: Context, project: str = PROJECT) -> list[tuple[str, str, object, object]]:
    with ctx.store.unit_of_work() as uow:
        return [(r.action, r.target, r.before, r.after) for r in uow.iter_audit(project)]


def test_create_user_makes_the_person_sets_the_password_and_grants_the_role(
    seeded: Context,
) -> None:
    info = users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, "editor")
    assert (info.name, info.role, info.has_password) == ("erin", Role.editor, True)
    assert [p.name for p in principals.list_principals(seeded, PROJECT)] == ["erin"]
    listed = users.list_users(seeded, PROJECT)
    assert [(u.name, u.role, u.has_password) for u in listed] == [("erin", Role.editor, True)]
    with seeded.store.unit_of_work() as uow:
        stored = uow.get_credential("erin")
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert passwords.verify(stored.password_hash, PASSWORD)
    rows = audit_rows(seeded)
    assert [r[0] for r in rows[-2:]] == [AuditAction.PRINCIPAL_CREATE, AuditAction.USER_CREATE]
    assert rows[-1][3] == {"name": "erin", "role": "editor", "password_set": True}
    text = json.dumps(rows, default=str)
    assert PASSWORD not in text and stored.password_hash not in text and "argon2" not in text


def test_an_existing_person_principal_is_reused_and_a_service_account_refused(
    seeded: Context,
) -> None:
    principals.create_principal(seeded, USER, PROJECT, "alice", "person")
    principals.create_principal(seeded, USER, PROJECT, "bot", "service")
    users.create_user(seeded, USER, PROJECT, "alice", PASSWORD, "releaser")
    assert [p.name for p in principals.list_principals(seeded, PROJECT)] == ["alice", "bot"]
    with pytest.raises(ConflictError) as raised:
        users.create_user(seeded, USER, PROJECT, "bot", PASSWORD, "editor")
    assert raised.value.field == "name" and "service account" in raised.value.message


def test_runtime_and_unknown_roles_are_refused_naming_role(seeded: Context) -> None:
    for role in ("runtime", "owner"):
        with pytest.raises(InvalidInputError) as raised:
            users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, role)
        assert raised.value.field == "role"
    with pytest.raises(InvalidInputError) as raised:
        users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, "runtime")
    assert "runtime" in raised.value.message and "cannot sign in" in raised.value.message
    users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, "editor")
    with pytest.raises(InvalidInputError) as raised:
        users.grant(seeded, USER, PROJECT, "erin", "runtime")
    assert raised.value.field == "role"
    assert users.list_users(seeded, PROJECT)[0].role is Role.editor


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short pass", "at least 12"),
        ("aaaaaaaaaaaaaaaa", "repeat one character"),
        ("erin.the.editor", "name"),
        ("x" * 1025, "at most"),
    ],
)
def test_the_password_policy_names_password(seeded: Context, password: str, why: str) -> None:
    name = "erin.the.editor" if why == "name" else "erin"
    with pytest.raises(InvalidInputError) as raised:
        users.create_user(seeded, USER, PROJECT, name, password, "editor")
    assert raised.value.field == "password" and why in raised.value.message
    assert users.list_users(seeded, PROJECT) == []


def test_a_second_project_reuses_the_password_and_refuses_a_new_one(seeded: Context) -> None:
    prompts.create_project(seeded, USER, OTHER)
    users.create_user(seeded, USER, PROJECT, "alice", PASSWORD, "releaser")
    with pytest.raises(ConflictError) as raised:
        users.create_user(seeded, USER, OTHER, "alice", "another password!", "editor")
    assert raised.value.field == "password" and "promptstage user passwd" in raised.value.message
    users.create_user(seeded, USER, OTHER, "alice", None, "editor")
    assert [(u.name, u.role) for u in users.list_users(seeded, OTHER)] == [("alice", Role.editor)]
    with pytest.raises(InvalidInputError) as missing:
        users.create_user(seeded, USER, OTHER, "bob", None, "editor")
    assert missing.value.field == "password"
    with pytest.raises(ConflictError) as twice:
        users.create_user(seeded, USER, OTHER, "alice", None, "admin")
    assert twice.value.field == "name" and "grant" in twice.value.message


def test_grant_and_revoke_change_the_role_and_are_audited(seeded: Context) -> None:
    users.create_user(seeded, USER, PROJECT, "alice", PASSWORD, "editor")
    users.grant(seeded, USER, PROJECT, "alice", "releaser")
    assert users.list_users(seeded, PROJECT)[0].role is Role.releaser
    users.revoke(seeded, USER, PROJECT, "alice")
    assert users.list_users(seeded, PROJECT) == []
    rows = audit_rows(seeded)
    assert [r[0] for r in rows[-2:]] == [AuditAction.USER_ROLE, AuditAction.USER_REVOKE]
    assert rows[-2][2:] == (
        {"name": "alice", "role": "editor"},
        {"name": "alice", "role": "releaser"},
    )
    with pytest.raises(NotFoundError) as raised:
        users.revoke(seeded, USER, PROJECT, "alice")
    assert raised.value.field == "name"
    with pytest.raises(NotFoundError) as nobody:
        users.grant(seeded, USER, PROJECT, "zed", "editor")
    assert nobody.value.field == "name" and "user create" in nobody.value.message
    users.grant(seeded, USER, PROJECT, "alice", "admin")  # she keeps her password
    assert [(u.role, u.has_password) for u in users.list_users(seeded, PROJECT)] == [
        (Role.admin, True)
    ]


def test_set_password_changes_it_and_audits_in_each_of_her_projects(seeded: Context) -> None:
    prompts.create_project(seeded, USER, OTHER)
    users.create_user(seeded, USER, PROJECT, "alice", PASSWORD, "releaser")
    users.create_user(seeded, USER, OTHER, "alice", None, "editor")
    new = "a brand new passphrase"
    with pytest.raises(PermissionDeniedError) as raised:
        users.set_password(seeded, "key:admin", "alice", new, scope=PROJECT)
    assert raised.value.field == "name" and OTHER in raised.value.message
    users.set_password(seeded, "key:admin", "alice", new)
    with seeded.store.unit_of_work() as uow:
        stored = uow.get_credential("alice")
    assert stored is not None and passwords.verify(stored.password_hash, new)
    assert not passwords.verify(stored.password_hash, PASSWORD)
    for project in (PROJECT, OTHER):
        last = audit_rows(seeded, project)[-1]
        assert last[0] == AuditAction.USER_PASSWORD and new not in json.dumps(last, default=str)
    with pytest.raises(InvalidInputError) as weak:
        users.set_password(seeded, "key:admin", "alice", "tiny")
    assert weak.value.field == "password"
    with pytest.raises(NotFoundError):
        users.set_password(seeded, "key:admin", "nobody", new)


def test_a_project_admin_resets_the_password_of_her_project_only_user(seeded: Context) -> None:
    prompts.create_project(seeded, USER, OTHER)
    users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, "editor")
    users.set_password(seeded, "key:ann", "erin", "reset by the admin", scope=PROJECT)
    with pytest.raises(NotFoundError):
        users.set_password(seeded, "key:ann", "erin", "reset by the admin", scope=OTHER)
