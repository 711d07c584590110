"""The audit hash chain and the event outbox, on every backend."""

from __future__ import annotations

from datetime import timedelta, timezone
from itertools import pairwise
from typing import Any

from sqlalchemy import text
from store_factories import at, seed

from promptstage.domain.audit import GENESIS, chain_hash, verify_chain
from promptstage.domain.models import AuditRecord
from promptstage.store.sql import SqlStore


def _audit(store: SqlStore, count: int, project: str = "clinic") -> list[AuditRecord]:
    records = []
    with store.unit_of_work(write=True) as uow:
        uow.lock_project(project)
        for i in range(count):
            records.append(
                uow.append_audit(
                    project,
                    actor="key:abc",
                    action="label.move",
                    target=f"greet/prod#{i}",
                    before={"version": i, "big": 1e16, "neg": -0.0},
                    after={"version": i + 1, "tags": ["a", "é"]},
                    reason=f"step {i}",
                    at=at(i),
                )
            )
    return records


def test_audit_rows_chain_from_genesis(store: SqlStore) -> None:
    seed(store)
    written = _audit(store, 5)
    assert [record.seq for record in written] == [1, 2, 3, 4, 5]
    assert written[0].prev_hash == GENESIS
    for prev, record in pairwise(written):
        assert record.prev_hash == prev.hash
    assert written[2].hash == chain_hash(written[2].prev_hash, written[2].chained())
    with store.unit_of_work() as uow:
        read = list(uow.iter_audit("clinic"))
        report = verify_chain(uow.iter_audit("clinic"))
    assert read == written
    assert report.ok and report.checked == 5 and report.head == written[-1].hash


def test_audit_chain_continues_across_units_of_work(store: SqlStore) -> None:
    seed(store)
    first = _audit(store, 2)
    second = _audit(store, 2)
    assert second[0].seq == 3 and second[0].prev_hash == first[-1].hash
    with store.unit_of_work() as uow:
        assert verify_chain(uow.iter_audit("clinic")).ok


def test_audit_chains_are_per_project(store: SqlStore) -> None:
    seed(store)
    seed(store, project="other")
    _audit(store, 2)
    other = _audit(store, 1, project="other")
    assert other[0].seq == 1 and other[0].prev_hash == GENESIS


def test_audit_keeps_the_exact_timestamp(store: SqlStore) -> None:
    seed(store)
    plus_two = timezone(timedelta(hours=2))
    local = at().astimezone(plus_two)
    with store.unit_of_work(write=True) as uow:
        written = uow.append_audit(
            "clinic", actor="a", action="x", target="t", before=None, after=None, reason="",
            at=local,
        )  # fmt: skip
    with store.unit_of_work() as uow:
        (read,) = uow.iter_audit("clinic")
    assert read == written
    assert read.at == at() and read.at.utcoffset() == timedelta(0)
    assert read.before is None and read.after is None
    assert verify_chain([read]).ok


def test_list_audit_newest_first_in_pages(store: SqlStore) -> None:
    seed(store)
    written = _audit(store, 7)
    seen: list[AuditRecord] = []
    before: int | None = None
    with store.unit_of_work() as uow:
        while True:
            page = uow.list_audit("clinic", limit=3, before=before)
            seen += page
            if len(page) < 3:
                break
            before = page[-1].seq
    assert seen == list(reversed(written))


def test_iter_audit_reads_past_one_page(store: SqlStore) -> None:
    seed(store)
    _audit(store, 1001)
    with store.unit_of_work() as uow:
        report = verify_chain(uow.iter_audit("clinic"))
    assert report.ok and report.checked == 1001


def _tamper(store: SqlStore, sql: str, **params: Any) -> None:
    """Edit audit rows as a superuser would: on Postgres, past the append-only trigger (0003)."""
    with store.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit DISABLE TRIGGER audit_append_only")
        connection.execute(text(sql), params)
        if postgres:
            connection.exec_driver_sql("ALTER TABLE audit ENABLE TRIGGER audit_append_only")


def test_changed_audit_row_is_detected(store: SqlStore) -> None:
    seed(store)
    _audit(store, 5)
    _tamper(
        store, "UPDATE audit SET reason = 'nothing to see' WHERE project = 'clinic' AND seq = 3"
    )
    with store.unit_of_work() as uow:
        report = verify_chain(uow.iter_audit("clinic"))
    assert not report.ok and report.first_bad_seq == 3 and report.checked == 2


def test_deleted_audit_row_is_detected(store: SqlStore) -> None:
    seed(store)
    _audit(store, 5)
    _tamper(store, "DELETE FROM audit WHERE project = 'clinic' AND seq = 2")
    with store.unit_of_work() as uow:
        report = verify_chain(uow.iter_audit("clinic"))
    assert not report.ok and report.first_bad_seq == 2


def test_events_are_numbered_per_project(store: SqlStore) -> None:
    seed(store)
    seed(store, project="other")
    with store.unit_of_work(write=True) as uow:
        uow.lock_project("clinic")
        written = [
            uow.append_event("clinic", "label.moved", {"prompt": "greet", "n": i}, at(i))
            for i in range(5)
        ]
        other = uow.append_event("other", "prompt.created", {}, at())
    with store.unit_of_work(write=True) as uow:
        written.append(uow.append_event("clinic", "version.created", {"v": 2}, at(9)))
    assert [event.seq for event in written] == [1, 2, 3, 4, 5, 6]
    assert other.seq == 1
    with store.unit_of_work() as uow:
        assert uow.last_event_seq("clinic") == 6
        assert uow.last_event_seq("other") == 1
        assert uow.last_event_seq("nope") == 0
        assert uow.events_since("clinic", 0, limit=100) == written
        assert uow.events_since("clinic", 4, limit=100) == written[4:]
        assert uow.events_since("clinic", 1, limit=2) == written[1:3]
        assert uow.events_since("clinic", 6, limit=100) == []
