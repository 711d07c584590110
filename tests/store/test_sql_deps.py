"""The dependency catalog and drift counters, on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from store_factories import at, seed

from promptstage.domain.deps import CatalogEntry, entry_digest
from promptstage.domain.drift import Mismatch
from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore


def _entry(kind: str, name: str, version: str, body: dict | None = None) -> CatalogEntry:
    body = body if body is not None else {}
    return CatalogEntry(
        "clinic", kind, name, version, entry_digest(kind, name, version, body), body, "ana",
        at(len(version)),
    )  # fmt: skip


def test_entries_are_immutable_and_read_back_exactly(store: SqlStore) -> None:
    seed(store)
    tool = _entry(
        "tool", "book", "3", {"description": "Book", "parameters": {"type": "object", "x": 1e16}}
    )
    with store.unit_of_work(write=True) as uow:
        uow.add_dep_entry(tool)
        uow.add_dep_entry(_entry("index", "kb", "7", {"document_count": 10, "built_at": None}))
        uow.add_dep_entry(_entry("index", "kb", "8", {"document_count": 12, "built_at": None}))
        uow.add_dep_entry(_entry("model", "openai/gpt-4o", "2024-08-06"))
        with pytest.raises(ConflictError):
            uow.add_dep_entry(_entry("index", "kb", "7", {"document_count": 11}))
        with pytest.raises(NotFoundError):
            uow.add_dep_entry(replace(_entry("index", "kb", "9"), project="nope"))
    with store.unit_of_work() as uow:
        assert uow.get_dep_entry("clinic", "tool", "book", "3") == tool
        assert uow.get_dep_entry("clinic", "tool", "book", "4") is None
        assert [e.version for e in uow.list_dep_entries("clinic", "index", "kb")] == ["7", "8"]
        assert [e.kind for e in uow.list_dep_entries("clinic")] == [
            "index", "index", "model", "tool",
        ]  # fmt: skip


def test_retirement_date_is_set_and_cleared(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_dep_entry(_entry("model", "openai/gpt-4o", "2024-08-06"))
        assert uow.set_dep_retirement(
            "clinic", "model", "openai/gpt-4o", "2024-08-06", date(2027, 3, 1)
        )
        assert not uow.set_dep_retirement("clinic", "model", "openai/gpt-4o", "x", None)
    with store.unit_of_work() as uow:
        found = uow.get_dep_entry("clinic", "model", "openai/gpt-4o", "2024-08-06")
        assert found is not None and found.retires_on == date(2027, 3, 1)


def test_version_configs_lists_every_version(store: SqlStore) -> None:
    seed(store, versions=2)
    with store.unit_of_work() as uow:
        rows = list(uow.version_configs("clinic"))
    assert [(p, n) for p, n, _ in rows] == [("greet", 1), ("greet", 2)]
    assert rows[0][2]["model"]["name"] == "gpt-4o"


def test_drift_counts_per_observed_value(store: SqlStore) -> None:
    seed(store)
    m = Mismatch("model", "openai/gpt-4o@2024-08-06", "gpt-4o-2024-11-20")
    with store.unit_of_work(write=True) as uow:
        assert uow.count_drift("clinic", "greet", 1, "prod", m, at(1))
        assert not uow.count_drift("clinic", "greet", 1, "prod", m, at(5))
        assert uow.count_drift("clinic", "greet", 1, "staging", m, at(6))
    with store.unit_of_work() as uow:
        rows = uow.list_drift("clinic", label="prod")
        assert len(rows) == 1 and rows[0].count == 2
        assert (rows[0].first_at, rows[0].last_at) == (at(1), at(5))
        assert len(uow.list_drift(None)) == 2
        assert uow.list_drift("clinic", version=2) == []


def test_a_new_mismatch_waits_for_one_announcement(store: SqlStore) -> None:
    seed(store)
    m = Mismatch("model", "openai/gpt-4o@2024-08-06", "gpt-4o-2024-11-20")
    with store.unit_of_work(write=True) as uow:
        assert uow.count_drift("clinic", "greet", 1, "prod", m, at(1))
    with store.unit_of_work() as uow:
        (left,) = uow.unannounced_drift(10)
        assert (left.project, left.label, left.observed) == ("clinic", "prod", m.observed)
    with store.unit_of_work(write=True) as uow:
        assert uow.claim_drift("clinic", "greet", 1, "prod", m, at(2))
        assert not uow.claim_drift("clinic", "greet", 1, "prod", m, at(3)), "claimed once"
        assert not uow.count_drift("clinic", "greet", 1, "prod", m, at(4))
    with store.unit_of_work() as uow:
        assert uow.unannounced_drift(10) == []
