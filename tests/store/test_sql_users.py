"""UI users: credentials, memberships and sessions, on every backend."""

from __future__ import annotations

import pytest
from store_factories import at, seed

from promptstage.domain.models import Role
from promptstage.domain.users import Membership, SessionRecord, UserCredential
from promptstage.errors import NotFoundError
from promptstage.store.sql import SqlStore


def test_credentials_are_one_per_name_and_replaced_in_place(store: SqlStore) -> None:
    first = UserCredential("alice", "$argon2id$one", at(1), "ana", at(1))
    with store.unit_of_work(write=True) as uow:
        assert uow.get_credential("alice") is None
        uow.set_credential(first)
    with store.unit_of_work(write=True) as uow:
        assert uow.get_credential("alice") == first
        uow.set_credential(UserCredential("alice", "$argon2id$two", at(5), "bob", at(5)))
    with store.unit_of_work() as uow:
        # created_at/by stay those of the first password; the hash and its time change.
        assert uow.get_credential("alice") == UserCredential(
            "alice", "$argon2id$two", at(1), "ana", at(5)
        )
        with pytest.raises(RuntimeError):
            uow.set_credential(first)  # a read unit of work refuses writes


def test_memberships_per_project(store: SqlStore) -> None:
    seed(store)
    seed(store, project="other")
    with store.unit_of_work(write=True) as uow:
        uow.set_membership(Membership("clinic", "bob", Role.editor, at(1), "ana"))
        uow.set_membership(Membership("clinic", "alice", Role.editor, at(2), "ana"))
        uow.set_membership(Membership("other", "alice", Role.admin, at(3), "ana"))
        uow.set_membership(Membership("clinic", "alice", Role.releaser, at(4), "zed"))
        with pytest.raises(NotFoundError):
            uow.set_membership(Membership("nope", "alice", Role.editor, at(5), "ana"))
    with store.unit_of_work(write=True) as uow:
        assert uow.memberships_of("alice") == {"clinic": Role.releaser, "other": Role.admin}
        assert uow.memberships_of("carol") == {}
        # Changing a role keeps when and by whom the user was added.
        assert uow.get_membership("clinic", "alice") == Membership(
            "clinic", "alice", Role.releaser, at(2), "ana"
        )
        assert [m.name for m in uow.list_memberships("clinic")] == ["alice", "bob"]
        assert uow.delete_membership("clinic", "alice") is True
        assert uow.delete_membership("clinic", "alice") is False
    with store.unit_of_work() as uow:
        assert uow.memberships_of("alice") == {"other": Role.admin}
        assert uow.get_membership("clinic", "alice") is None


def test_sessions_touch_revoke_and_prune(store: SqlStore) -> None:
    live = SessionRecord("k1", "alice", at(0), at(0), at(100))
    other = SessionRecord("k2", "alice", at(0), at(0), at(100))
    short = SessionRecord("k3", "bob", at(0), at(0), at(10))
    with store.unit_of_work(write=True) as uow:
        for session in (live, other, short):
            uow.add_session(session)
    with store.unit_of_work(write=True) as uow:
        assert uow.get_session("k1") == live
        assert uow.get_session("missing") is None
        uow.touch_session("k1", at(7))
        assert uow.revoke_session("k2", at(8)) is True
        assert uow.revoke_session("k2", at(9)) is False
    with store.unit_of_work(write=True) as uow:
        found = uow.get_session("k1")
        assert found is not None and found.last_seen_at == at(7) and found.revoked_at is None
        assert uow.get_session("k2") == SessionRecord("k2", "alice", at(0), at(0), at(100), at(8))
        assert uow.revoke_sessions_of("alice", at(20)) == 1  # k2 was revoked already
        assert uow.revoke_sessions_of("carol", at(20)) == 0
    with store.unit_of_work(write=True) as uow:
        assert uow.delete_sessions_before(at(15)) == 2  # k2 (revoked at 8), k3 (expired at 10)
        assert uow.get_session("k1") is not None
        assert uow.delete_sessions_before(at(21)) == 1  # k1, revoked at 20
