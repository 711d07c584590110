"""UI sessions (service/sessions.py): sign-in, expiry, revocation, roles read fresh, and
four-eyes counting a person's UI sessions and keys as one person."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from promptstage.domain.models import Role
from promptstage.domain.principals import INSTANCE_ADMIN, principal_of, ui_actor
from promptstage.errors import AuthenticationError, PermissionDeniedError
from promptstage.service import governance, keys, passwords, principals, sessions, users
from promptstage.service.context import Context
from promptstage.service.keys import Principal
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, FakeClock

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

PASSWORD = "correct horse battery"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
ADMIN_TOKEN = "ps_adm1n_0123456789abcdef"


@pytest.fixture
def people(seeded: Context) -> Context:
    users.create_user(seeded, USER, PROJECT, "erin", PASSWORD, "editor")
    users.create_user(seeded, USER, PROJECT, "alice", PASSWORD, "releaser")
    users.create_user(seeded, USER, PROJECT, "bob", PASSWORD, "releaser")
    return seeded


def test_sign_in_opens_a_session_stored_only_by_its_hash(people: Context) -> None:
    first = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    second = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    assert first.token != second.token and len(first.token) >= 43  # a new id every sign-in
    user = first.user
    assert (user.name, dict(user.roles), user.instance_admin) == (
        "erin",
        {PROJECT: Role.editor},
        False,
    )
    assert user.session_key == hashlib.sha256(first.token.encode()).hexdigest()
    assert user.session_key != first.token
    with people.store.unit_of_work() as uow:
        assert uow.get_session(first.token) is None  # the token itself is no key
        stored = uow.get_session(user.session_key)
    assert stored is not None and stored.expires_at == helpers.T0 + ABSOLUTE
    assert sessions.current(people, first.token, idle=IDLE) == user


def test_wrong_name_and_wrong_password_get_one_message(
    people: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str | None] = []
    real = passwords.verify

    def spy(stored: str | None, password: str) -> bool:
        verified.append(stored)
        return real(stored, password)

    monkeypatch.setattr(passwords, "verify", spy)
    with pytest.raises(AuthenticationError) as wrong_password:
        sessions.sign_in(people, "erin", "not her password", absolute=ABSOLUTE)
    with pytest.raises(AuthenticationError) as unknown:
        sessions.sign_in(people, "zed", PASSWORD, absolute=ABSOLUTE)
    assert wrong_password.value.message == unknown.value.message == sessions.BAD_SIGN_IN
    assert wrong_password.value.field == unknown.value.field
    # The unknown name spent an argon2 verification too (against the decoy hash).
    assert len(verified) == 2 and verified[1] is None


def test_a_user_without_any_role_cannot_sign_in(people: Context) -> None:
    users.revoke(people, USER, PROJECT, "erin")
    with pytest.raises(AuthenticationError) as raised:
        sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    assert "no role in any project" in raised.value.message


def test_idle_and_absolute_expiry_follow_the_injected_clock(
    people: Context, clock: FakeClock
) -> None:
    opened = sessions.sign_in(people, "erin", PASSWORD, absolute=timedelta(hours=1))
    clock.advance(29 * 60)
    assert sessions.current(people, opened.token, idle=IDLE) is not None  # touches last_seen
    clock.advance(29 * 60)
    assert sessions.current(people, opened.token, idle=IDLE) is not None  # 29 min idle: alive
    clock.advance(2 * 60 + 1)  # past the absolute hour, though active
    assert sessions.current(people, opened.token, idle=IDLE) is None
    idle = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    clock.advance(30 * 60 + 1)
    assert sessions.current(people, idle.token, idle=IDLE) is None


def test_last_seen_is_written_at_most_once_a_minute(people: Context, clock: FakeClock) -> None:
    opened = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    key = opened.user.session_key

    def last_seen() -> object:
        with people.store.unit_of_work() as uow:
            found = uow.get_session(key)
        assert found is not None
        return found.last_seen_at

    start = last_seen()
    clock.advance(59)
    sessions.current(people, opened.token, idle=IDLE)
    assert last_seen() == start
    clock.advance(1)
    sessions.current(people, opened.token, idle=IDLE)
    assert last_seen() == clock.now


def test_sign_out_revokes_server_side_and_unknown_tokens_are_nobody(people: Context) -> None:
    opened = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    sessions.sign_out(people, opened.token)
    assert sessions.current(people, opened.token, idle=IDLE) is None
    assert sessions.current(people, None, idle=IDLE) is None
    assert sessions.current(people, "made-up", idle=IDLE) is None
    sessions.sign_out(people, "made-up")  # nothing to do, no error


def test_roles_are_read_on_every_request(people: Context) -> None:
    opened = sessions.sign_in(people, "alice", PASSWORD, absolute=ABSOLUTE)
    users.grant(people, USER, PROJECT, "alice", "admin")
    now = sessions.current(people, opened.token, idle=IDLE)
    assert now is not None and now.roles == {PROJECT: Role.admin}
    users.revoke(people, USER, PROJECT, "alice")
    assert sessions.current(people, opened.token, idle=IDLE) is None
    with pytest.raises(PermissionDeniedError) as raised:
        now.principal("elsewhere")
    assert raised.value.field == "project"


def test_a_password_change_signs_her_out(people: Context) -> None:
    opened = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    users.set_password(people, USER, "erin", "her second passphrase")
    assert sessions.current(people, opened.token, idle=IDLE) is None
    with pytest.raises(AuthenticationError):
        sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)


def test_principal_of_a_session_user(people: Context) -> None:
    user = sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE).user
    assert user.actor == "erin (ui)" == ui_actor("erin")
    assert user.principal(PROJECT) == Principal("erin (ui)", Role.editor, PROJECT, None)
    with pytest.raises(PermissionDeniedError):
        user.principal(None)


def test_only_the_instance_admin_key_signs_in_with_a_key(people: Context) -> None:
    authenticator = keys.Authenticator(people, admin_token=ADMIN_TOKEN, cache_seconds=0)
    opened = sessions.sign_in_admin(people, authenticator, ADMIN_TOKEN, absolute=ABSOLUTE)
    assert (opened.user.name, opened.user.instance_admin, dict(opened.user.roles)) == (
        INSTANCE_ADMIN,
        True,
        {},
    )
    assert opened.user.principal(PROJECT) == Principal(INSTANCE_ADMIN, Role.admin, None, None)
    again = sessions.current(people, opened.token, idle=IDLE)
    assert again is not None and again.instance_admin
    _, project_token = keys.create_key(people, USER, PROJECT, "laptop", "admin")
    for token in (project_token, "ps_adm1n_wrong", ""):
        with pytest.raises(AuthenticationError):
            sessions.sign_in_admin(people, authenticator, token, absolute=ABSOLUTE)
    with pytest.raises(AuthenticationError):
        sessions.sign_in(people, INSTANCE_ADMIN, ADMIN_TOKEN, absolute=ABSOLUTE)


def test_csrf_token_is_an_hmac_of_the_session_token() -> None:
    expected = hmac.new(b"tok", b"promptstage-csrf", hashlib.sha256).hexdigest()
    assert sessions.csrf_token("tok") == expected
    assert sessions.csrf_token("tok2") != expected


def test_prune_deletes_ended_sessions_only(people: Context, clock: FakeClock) -> None:
    short = sessions.sign_in(people, "erin", PASSWORD, absolute=timedelta(minutes=5))
    gone = sessions.sign_in(people, "alice", PASSWORD, absolute=ABSOLUTE)
    live = sessions.sign_in(people, "bob", PASSWORD, absolute=ABSOLUTE)
    sessions.sign_out(people, gone.token)
    clock.advance(6 * 60)
    assert sessions.prune_sessions(people) == 2
    with people.store.unit_of_work() as uow:
        assert uow.get_session(short.user.session_key) is None
        assert uow.get_session(live.user.session_key) is not None


def test_ui_actor_is_the_same_principal_as_her_keys() -> None:
    assert principal_of("alice (ui)") == principal_of("alice (key:3f2a9c01b7de)") == "alice"
    assert principal_of("bob (ui)") == "bob"
    assert principal_of("alice (uix)") == "alice (uix)"
    assert ui_actor(INSTANCE_ADMIN) == INSTANCE_ADMIN


def test_four_eyes_counts_alice_in_the_ui_and_with_her_key_as_one_person(
    people: Context,
) -> None:
    principals.create_principal(people, USER, PROJECT, "carol", "person")  # no UI user
    _, _ = keys.create_key(people, USER, PROJECT, "laptop", "releaser", principal="alice")
    with people.store.unit_of_work() as uow:
        (alice_key,) = [k for k in uow.list_keys(PROJECT) if k.principal == "alice"]
    alice_ui = sessions.sign_in(people, "alice", PASSWORD, absolute=ABSOLUTE).user
    bob_ui = sessions.sign_in(people, "bob", PASSWORD, absolute=ABSOLUTE).user
    opened = governance.propose_move(
        people,
        alice_ui.principal(PROJECT),
        PROJECT,
        PROMPT,
        "prod",
        3,
        expected_version=1,
        expect_absent=False,
        reason=None,
        ttl=timedelta(hours=24),
    )
    assert isinstance(opened, governance.Opened)
    request_id = opened.change_request.id
    assert opened.change_request.requested_by == "alice (ui)"
    via_key = Principal(alice_key.actor, Role.releaser, PROJECT, alice_key.prefix)
    for alice in (alice_ui.principal(PROJECT), via_key):
        with pytest.raises(PermissionDeniedError):
            governance.approve_request(people, alice, PROJECT, request_id)
    decided, _ = governance.approve_request(people, bob_ui.principal(PROJECT), PROJECT, request_id)
    assert decided.state == "approved" and decided.decided_by == "bob (ui)"


@pytest.mark.parametrize("name", ["", "Erin", "x\x00y", "a" * 200])
def test_a_malformed_name_gets_the_same_refusal(people: Context, name: str) -> None:
    with pytest.raises(AuthenticationError) as raised:
        sessions.sign_in(people, name, PASSWORD, absolute=ABSOLUTE)
    assert raised.value.message == sessions.BAD_SIGN_IN


def test_a_weaker_hash_is_upgraded_at_sign_in(people: Context) -> None:
    from argon2 import PasswordHasher

    from promptstage.domain.users import UserCredential

    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with people.store.unit_of_work(write=True) as uow:
        uow.set_credential(UserCredential("erin", weak, helpers.T0, USER, helpers.T0))
    assert passwords.needs_rehash(weak)
    sessions.sign_in(people, "erin", PASSWORD, absolute=ABSOLUTE)
    with people.store.unit_of_work() as uow:
        stored = uow.get_credential("erin")
    assert stored is not None and stored.password_hash != weak
    assert not passwords.needs_rehash(stored.password_hash)
    assert stored.password_hash.startswith("$argon2id$")
    assert passwords.verify(stored.password_hash, PASSWORD)
