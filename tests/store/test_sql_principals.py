"""Principals, key ownership and expiry, and migration 0005's backfill, on every backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from store_factories import at, seed

from promptstage.domain.models import ApiKey, Role
from promptstage.domain.principals import PrincipalKind, PrincipalRecord
from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.migrate import alembic_config


def test_principals_are_unique_per_scope_and_keys_keep_owner_and_expiry(store: SqlStore) -> None:
    seed(store)
    seed(store, project="other")
    alice = PrincipalRecord("clinic", "alice", PrincipalKind.person, at(1), "ana")
    bot = PrincipalRecord("clinic", "bot", PrincipalKind.service, at(2), "ana")
    with store.unit_of_work(write=True) as uow:
        uow.add_principal(bot)
        uow.add_principal(alice)
        uow.add_principal(PrincipalRecord("other", "alice", PrincipalKind.person, at(3), "ana"))
        uow.add_principal(PrincipalRecord(None, "alice", PrincipalKind.person, at(4), "ana"))
        with pytest.raises(ConflictError):
            uow.add_principal(alice)
        with pytest.raises(NotFoundError):
            uow.add_principal(PrincipalRecord("nope", "x", PrincipalKind.person, at(5), "ana"))
    key = ApiKey("k1", "clinic", "k1", "laptop", Role.releaser, at(6), "ana", None, "alice", at(9))
    with store.unit_of_work(write=True) as uow:
        uow.add_key(key, "hash")
        uow.set_key_expiry("k1", at(8))
        with pytest.raises(NotFoundError):
            uow.set_key_expiry("zzz", at(8))
    with store.unit_of_work() as uow:
        assert uow.list_principals("clinic") == [alice, bot]
        assert [p.project for p in uow.list_principals(None)] == [None]
        assert uow.get_principal("clinic", "bot") == bot
        assert uow.get_principal("clinic", "carol") is None
        found = uow.get_key("k1")
        assert found is not None
        assert (found[0].principal, found[0].actor, found[0].expires_at) == (
            "alice",
            "alice (key:k1)",
            at(8),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'promptstage.db'}"
    make: Callable[[], str] = request.getfixturevalue("make_postgres_database")
    return make()


def test_migration_0005_gives_every_existing_key_a_principal_named_after_it(
    empty_url: str,
) -> None:
    store = SqlStore.from_url(empty_url)
    try:
        with store.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            connection.execute(
                text(
                    "INSERT INTO projects (name, description, created_at, event_seq, audit_seq) "
                    "VALUES ('clinic', '', :at, 0, 0)"
                ),
                {"at": at(0)},
            )
            for prefix, project in (("aaa", "clinic"), ("bbb", None)):
                connection.execute(
                    text(
                        "INSERT INTO api_keys (id, project, prefix, name, role, secret_hash, "
                        "created_at, created_by) VALUES (:p, :project, :p, 'ci', 'releaser', "
                        "'hash', :at, 'ana')"
                    ),
                    {"p": prefix, "project": project, "at": at(1)},
                )
        upgrade_database(empty_url)
        with store.unit_of_work() as uow:
            key = uow.get_key("aaa")
            assert key is not None and key[1] == "hash"
            assert (key[0].principal, key[0].actor, key[0].expires_at) == (
                "key:aaa",
                "key:aaa",
                None,
            )
            assert [(p.name, p.kind) for p in uow.list_principals("clinic")] == [
                ("key:aaa", PrincipalKind.person)
            ]
            assert [p.name for p in uow.list_principals(None)] == ["key:bbb"]
            assert uow.project_settings("clinic") is not None
    finally:
        store.close()
