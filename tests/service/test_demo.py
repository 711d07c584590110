"""``serve --demo``: two releaser keys, created (and returned once) with the demo project."""

from __future__ import annotations

from pathlib import Path

from promptstage.domain.models import Role
from promptstage.service import demo
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore


def test_the_demo_seeds_two_releasers_once(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'd.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        tokens = demo.seed_demo(ctx)
        assert len(tokens) == 2 and len(set(tokens)) == 2
        assert demo.seed_demo(ctx) == []  # shown once; never stored in plain text
        with store.unit_of_work() as uow:
            keys = uow.list_keys(demo.PROJECT)
            assert sorted(k.name for k in keys if k.role is Role.releaser) == ["alice", "bob"]
            assert sorted(k.principal for k in keys) == ["alice", "bob"]  # two people
            assert {p.kind.value for p in uow.list_principals(demo.PROJECT)} == {"person"}
            assert all(uow.get_key(t.split("_")[1]) is not None for t in tokens)
            assert all(t.split("_")[2] not in uow.get_key(t.split("_")[1])[1] for t in tokens)  # type: ignore[index]
    finally:
        store.close()
