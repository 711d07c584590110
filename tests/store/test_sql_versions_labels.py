"""Versions, labels and label history, on every backend."""

from __future__ import annotations

import pytest
from store_factories import at, make_prompt, make_version, seed

from promptstage.domain.models import LabelMove
from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore


def test_add_and_get_versions(store: SqlStore) -> None:
    seed(store, versions=0)
    chat = make_version(
        "greet",
        1,
        type="chat",
        template=[{"role": "system", "content": "Hi {{ name }}"}],
        includes={"other@2": "text of other"},
    )
    with store.unit_of_work(write=True) as uow:
        uow.add_version("clinic", chat)
        uow.add_version("clinic", make_version("greet", 2))
    with store.unit_of_work() as uow:
        assert uow.get_version("clinic", "greet", 1) == chat
        assert uow.get_version("clinic", "greet", 3) is None
        assert uow.get_version_by_digest("clinic", "greet", chat.digest) == chat
        assert uow.get_version_by_digest("clinic", "greet", "sha256:" + "f" * 64) is None
        assert uow.get_version_by_digest("clinic", "other", chat.digest) is None


def test_add_version_updates_latest_version(store: SqlStore) -> None:
    seed(store, versions=0)
    with store.unit_of_work() as uow:
        prompt = uow.get_prompt("clinic", "greet")
        assert prompt is not None and prompt.latest_version == 0
    for number in (1, 2):
        with store.unit_of_work(write=True) as uow:
            uow.add_version("clinic", make_version("greet", number))
        with store.unit_of_work() as uow:
            prompt = uow.get_prompt("clinic", "greet")
            assert prompt is not None and prompt.latest_version == number


def test_duplicate_version_number_is_a_conflict(store: SqlStore) -> None:
    seed(store, versions=1)
    with pytest.raises(ConflictError, match="version 1"), store.unit_of_work(write=True) as uow:
        uow.add_version("clinic", make_version("greet", 1, template="different"))
    with store.unit_of_work() as uow:
        version = uow.get_version("clinic", "greet", 1)
        assert version is not None and version.template != "different"


def test_version_of_an_unknown_prompt_is_not_found(store: SqlStore) -> None:
    seed(store, versions=0)
    with pytest.raises(NotFoundError, match="nope"), store.unit_of_work(write=True) as uow:
        uow.add_version("clinic", make_version("nope", 1))


def test_list_versions_newest_first_in_pages(store: SqlStore) -> None:
    seed(store, versions=12)
    seen: list[int] = []
    before: int | None = None
    with store.unit_of_work() as uow:
        while True:
            page = uow.list_versions("clinic", "greet", limit=5, before=before)
            seen += [version.number for version in page]
            if len(page) < 5:
                break
            before = page[-1].number
        assert uow.list_versions("clinic", "nope", limit=5, before=None) == []
    assert seen == list(range(12, 0, -1))


def test_versions_keep_exact_json(store: SqlStore) -> None:
    # Numbers JSONB would re-spell; the digest and the SDK's check depend on the exact values.
    config = {"params": {"big": 1e16, "neg_zero": -0.0, "tiny": 1.5e-7, "n": 10**18}, "k": "é"}
    seed(store, versions=0)
    with store.unit_of_work(write=True) as uow:
        uow.add_version("clinic", make_version("greet", 1, config=config))
    with store.unit_of_work() as uow:
        version = uow.get_version("clinic", "greet", 1)
    assert version is not None
    assert version == make_version("greet", 1, config=config)
    assert repr(version.config) == repr(config)


def test_labels_set_move_get_delete(store: SqlStore) -> None:
    seed(store, versions=3)
    with store.unit_of_work(write=True) as uow:
        uow.set_label("clinic", "greet", "prod", 1, at(10))
        uow.set_label("clinic", "greet", "staging", 2, at(10))
        uow.set_label("clinic", "greet", "prod", 3, at(11))
    with store.unit_of_work() as uow:
        assert uow.get_labels("clinic", "greet") == {"prod": 3, "staging": 2}
        assert uow.get_labels("clinic", "other") == {}
    with store.unit_of_work(write=True) as uow:
        uow.delete_label("clinic", "greet", "staging")
        uow.delete_label("clinic", "greet", "never-set")
    with store.unit_of_work() as uow:
        assert uow.get_labels("clinic", "greet") == {"prod": 3}


def test_label_on_a_missing_version_is_not_found(store: SqlStore) -> None:
    seed(store, versions=1)
    with pytest.raises(NotFoundError, match="version 9"), store.unit_of_work(write=True) as uow:
        uow.set_label("clinic", "greet", "prod", 9, at())


def test_label_history_newest_first_in_pages(store: SqlStore) -> None:
    seed(store, versions=3)
    moves = [
        LabelMove("greet", "prod", 1 + i % 3, (i - 1) % 3 + 1 if i else None, "ana", f"r{i}", at(i))
        for i in range(7)
    ] + [LabelMove("greet", "prod", None, 1, "bob", "gone", at(8), "delete")]
    with store.unit_of_work(write=True) as uow:
        uow.add_prompt(make_prompt("clinic", "other"))
        for move in moves:
            uow.add_label_move("clinic", move)
        uow.add_label_move("clinic", LabelMove("greet", "staging", 1, None, "ana", "", at()))
        uow.add_label_move("clinic", LabelMove("other", "prod", None, None, "ana", "", at()))
    seen: list[tuple[int, LabelMove]] = []
    before: int | None = None
    with store.unit_of_work() as uow:
        while True:
            page = uow.label_history("clinic", "greet", "prod", limit=3, before=before)
            seen += page
            if len(page) < 3:
                break
            before = page[-1][0]
    assert [move for _, move in seen] == list(reversed(moves))
    ids = [move_id for move_id, _ in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert seen[0][1].kind == "delete" and seen[0][1].version is None
