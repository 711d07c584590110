"""The audit hash chain finds changed, deleted and reordered rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from promptstage.domain.audit import GENESIS, chain_hash, verify_chain
from promptstage.domain.models import AuditRecord

AT = datetime(2026, 1, 2, tzinfo=UTC)


def make_chain(n: int) -> list[AuditRecord]:
    rows: list[AuditRecord] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        row = AuditRecord("p", seq, AT + timedelta(seconds=seq), "key:x", "label.move", f"label:a/{seq}",
                          {"version": seq - 1}, {"version": seq}, "", prev, "")
        row = dataclasses.replace(row, hash=chain_hash(prev, row.chained()))
        rows.append(row)
        prev = row.hash
    return rows


def test_intact_chain_verifies() -> None:
    rows = make_chain(4)
    report = verify_chain(rows)
    assert (report.ok, report.checked, report.head) == (True, 4, rows[-1].hash)
    assert verify_chain([]).ok and verify_chain([]).head == GENESIS


def test_changed_row_is_found() -> None:
    rows = make_chain(4)
    rows[2] = dataclasses.replace(rows[2], after={"version": 99})
    report = verify_chain(rows)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)


def test_deleted_row_is_found() -> None:
    rows = make_chain(4)
    del rows[1]
    assert (verify_chain(rows).ok, verify_chain(rows).first_bad_seq) == (False, 2)


def test_deleted_tail_is_not_detectable_without_an_anchor() -> None:
    rows = make_chain(4)
    report = verify_chain(rows[:3])
    assert report.ok and report.head != rows[-1].hash  # the exported head is what catches it


def test_reordered_rows_are_found() -> None:
    rows = make_chain(4)
    rows[1], rows[2] = rows[2], rows[1]
    assert not verify_chain(rows).ok


def test_rehashed_row_breaks_the_next_link() -> None:
    rows = make_chain(3)
    forged = dataclasses.replace(rows[1], reason="edited")
    rows[1] = dataclasses.replace(forged, hash=chain_hash(forged.prev_hash, forged.chained()))
    report = verify_chain(rows)
    assert (report.ok, report.first_bad_seq) == (False, 3)
