"""API keys and snapshot rows, on every backend."""

from __future__ import annotations

import pytest
from store_factories import at, make_prompt, make_version, seed

from promptstage.domain.models import ApiKey, Role
from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore


def _key(prefix: str, project: str | None, role: Role = Role.editor, offset: int = 0) -> ApiKey:
    return ApiKey(
        id=f"id-{prefix}", project=project, prefix=prefix, name=f"key {prefix}", role=role,
        created_at=at(offset), created_by="ana",
    )  # fmt: skip


def test_keys_add_get_list_revoke_count(store: SqlStore) -> None:
    seed(store)
    seed(store, project="other")
    keys = [
        _key("aaa", "clinic", Role.runtime, 1),
        _key("bbb", "clinic", Role.admin, 2),
        _key("ccc", None, Role.admin, 3),
        _key("ddd", "other", Role.releaser, 4),
    ]
    with store.unit_of_work(write=True) as uow:
        assert uow.count_keys() == 0
        for key in keys:
            uow.add_key(key, f"hash-{key.prefix}")
    with store.unit_of_work() as uow:
        assert uow.get_key("bbb") == (keys[1], "hash-bbb")
        assert uow.get_key("zzz") is None
        assert uow.list_keys("clinic") == keys[:2]
        assert uow.list_keys(None) == keys
        assert uow.count_keys() == 4
    with store.unit_of_work(write=True) as uow:
        uow.revoke_key("aaa", at(10))
        uow.revoke_key("aaa", at(20))  # a second revocation keeps the first time
    with store.unit_of_work() as uow:
        found = uow.get_key("aaa")
        assert found is not None and found[0].revoked_at == at(10)
        assert uow.count_keys() == 4  # revoked keys still count


def test_key_errors(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_key(_key("aaa", "clinic"), "h")
        with pytest.raises(ConflictError, match="aaa"):
            uow.add_key(_key("aaa", "clinic"), "h")
        with pytest.raises(NotFoundError, match="nope"):
            uow.add_key(_key("bbb", "nope"), "h")
        with pytest.raises(NotFoundError, match="zzz"):
            uow.revoke_key("zzz", at())


def test_snapshot_rows(store: SqlStore) -> None:
    seed(store, versions=5)
    seed(store, project="other", versions=2)
    with store.unit_of_work(write=True) as uow:
        uow.add_prompt(make_prompt("clinic", "empty"))  # no versions: nothing to load
        uow.add_prompt(make_prompt("clinic", "router"))
        uow.add_version("clinic", make_version("router", 1))
        uow.set_label("clinic", "greet", "prod", 2, at())
        uow.set_label("clinic", "greet", "staging", 5, at())  # same as latest: loaded once
        uow.set_label("clinic", "router", "prod", 1, at())
        uow.append_event("clinic", "x", {}, at())
        uow.append_event("clinic", "x", {}, at())
    with store.unit_of_work() as uow:
        rows = uow.snapshot_rows("clinic")
        greet2 = uow.get_version("clinic", "greet", 2)
    assert rows.seq == 2
    assert [prompt.name for prompt in rows.prompts] == ["empty", "greet", "router"]
    assert rows.labels == {"greet": {"prod": 2, "staging": 5}, "router": {"prod": 1}}
    assert sorted((v.prompt, v.number) for v in rows.versions) == [
        ("greet", 2), ("greet", 5), ("router", 1),
    ]  # fmt: skip
    assert greet2 in rows.versions


def test_snapshot_rows_loads_only_pointed_at_versions(store: SqlStore) -> None:
    prompts, depth = 120, 5
    with store.unit_of_work(write=True) as uow:
        uow.create_project("big", "", at())
        for p in range(prompts):
            name = f"p{p:04d}"
            uow.add_prompt(make_prompt("big", name))
            for number in range(1, depth + 1):
                uow.add_version("big", make_version(name, number))
            if p % 2 == 0:
                uow.set_label("big", name, "prod", 2, at())
    with store.unit_of_work() as uow:
        rows = uow.snapshot_rows("big")
    assert len(rows.prompts) == prompts
    assert len(rows.versions) == prompts + prompts // 2
    assert all(v.number in (2, depth) for v in rows.versions)


def test_snapshot_of_an_unknown_project_is_empty(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        rows = uow.snapshot_rows("nope")
    assert (rows.seq, rows.prompts, rows.labels, rows.versions) == (0, [], {}, [])
