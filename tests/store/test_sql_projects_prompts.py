"""Projects and prompts, on every backend."""

from __future__ import annotations

from datetime import UTC

import pytest
from store_factories import at, make_prompt

from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore


def test_create_get_and_list_projects(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        created = uow.create_project("zeta", "last", at(1))
        uow.create_project("alpha", "first", at(2))
    assert created.name == "zeta"
    assert created.created_at == at(1)
    with store.unit_of_work() as uow:
        got = uow.get_project("zeta")
        names = [project.name for project in uow.list_projects()]
        missing = uow.get_project("nope")
    assert got == created
    assert got is not None and got.created_at.tzinfo is UTC
    assert names == ["alpha", "zeta"]
    assert missing is None


def test_duplicate_project_is_a_conflict(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
    with pytest.raises(ConflictError, match="clinic"), store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "again", at())


def test_a_conflict_leaves_the_unit_of_work_usable(store: SqlStore) -> None:
    # The insert runs in a savepoint, so a caught ConflictError does not poison the transaction
    # (Postgres would otherwise refuse every further statement).
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
        with pytest.raises(ConflictError):
            uow.create_project("clinic", "again", at())
        uow.create_project("other", "", at())
    with store.unit_of_work() as uow:
        assert [p.name for p in uow.list_projects()] == ["clinic", "other"]


def test_lock_project_returns_the_project_or_none(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "d", at())
        locked = uow.lock_project("clinic")
        assert uow.lock_project("nope") is None
    assert locked is not None and locked.description == "d"


def test_prompts_round_trip(store: SqlStore) -> None:
    prompt = make_prompt("clinic", "booking.system", type="chat", tags=("x", "y"))
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
        uow.add_prompt(prompt)
    with store.unit_of_work() as uow:
        assert uow.get_prompt("clinic", "booking.system") == prompt
        assert uow.get_prompt("clinic", "nope") is None
        assert uow.get_prompt("other", "booking.system") is None


def test_duplicate_prompt_is_a_conflict_and_unknown_project_not_found(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
        uow.add_prompt(make_prompt("clinic", "greet"))
        with pytest.raises(ConflictError, match="greet"):
            uow.add_prompt(make_prompt("clinic", "greet"))
        with pytest.raises(NotFoundError, match="nope"):
            uow.add_prompt(make_prompt("nope", "greet"))


def test_list_prompts_pages_by_name(store: SqlStore) -> None:
    names = [f"p{i:02d}" for i in range(25)]
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
        uow.create_project("other", "", at())
        for name in reversed(names):
            uow.add_prompt(make_prompt("clinic", name))
        uow.add_prompt(make_prompt("other", "p00"))
    seen: list[str] = []
    after: str | None = None
    with store.unit_of_work() as uow:
        while True:
            page = uow.list_prompts("clinic", limit=10, after=after)
            seen += [prompt.name for prompt in page]
            if len(page) < 10:
                break
            after = page[-1].name
    assert seen == names
