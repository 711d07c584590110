"""Verification names the first bad row for every kind of raw-SQL tampering, on both backends.

Each test edits the audit table behind promptstage's back (on Postgres past the append-only
trigger, as a superuser could) and checks what ``service.audit.verify`` reports.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import update

from promptstage.domain.audit import Anchor, chain_hash
from promptstage.domain.models import AuditRecord
from promptstage.service import audit as audit_svc
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from promptstage.store.sql.tables import audit, projects
from support import audit as audit_helpers
from support.audit import PROJECT, populate, tamper

# The audit fixtures (tests/support/audit.py), resolved here before this folder's conftest.
audit_postgres_url = audit_helpers.audit_postgres_url
database_url = audit_helpers.database_url
store = audit_helpers.store
ctx = audit_helpers.ctx
signing_key = audit_helpers.signing_key
make_api = audit_helpers.make_api

ROWS = 8  # populate(): project, prompt, 3 versions, 3 label moves


def _rows(store: SqlStore) -> list[AuditRecord]:
    with store.unit_of_work() as uow:
        return list(uow.iter_audit(PROJECT))


def _forge(prev: AuditRecord, **changes: object) -> AuditRecord:
    """A row that follows ``prev`` and is correctly hashed (the algorithm is public)."""
    row = AuditRecord(
        PROJECT, prev.seq + 1, prev.at, "key:intruder", "label.move", "label:greet/prod",
        {"version": 1}, {"version": 3}, "forged", prev.hash, "",
    )  # fmt: skip
    row = dataclasses.replace(row, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(row, hash=chain_hash(row.prev_hash, row.chained()))


def _insert(record: AuditRecord) -> object:
    return audit.insert().values(dataclasses.asdict(record))


def test_an_intact_chain_verifies(ctx: Context) -> None:
    populate(ctx)
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.checked, report.first_bad_seq) == (True, ROWS, None)
    assert report.head == _rows(ctx.store)[-1].hash  # type: ignore[arg-type]


def test_updated_field_is_found(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    tamper(
        store, f"UPDATE audit SET reason = 'nothing to see' WHERE project = '{PROJECT}' AND seq = 4"
    )
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 4, 3)
    assert "edited" in (report.problem or "")


def test_updated_json_payload_is_found(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    tamper(store, update(audit).where(audit.c.project == PROJECT, audit.c.seq == 7)
           .values(after={"version": 99}))  # fmt: skip
    assert audit_svc.verify(ctx, PROJECT).first_bad_seq == 7


def test_deleted_middle_row_is_found(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    tamper(store, f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq = 5")
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 5, 4)
    assert "missing" in (report.problem or "")


def test_deleted_last_row_is_found_by_the_recorded_head(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    tamper(store, f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq = {ROWS}")
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq) == (False, ROWS)
    assert "deleted" in (report.problem or "")


def test_inserted_row_with_a_made_up_hash_is_found(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    head = _rows(store)[-1]
    forged = dataclasses.replace(_forge(head), hash="sha256:" + "ab" * 32)
    tamper(store, _insert(forged))  # type: ignore[arg-type]
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq) == (False, ROWS + 1)


def test_inserted_row_with_a_valid_hash_is_found_by_the_recorded_head(
    ctx: Context, store: SqlStore
) -> None:
    populate(ctx)
    forged = _forge(_rows(store)[-1])
    tamper(store, _insert(forged))  # type: ignore[arg-type]
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq) == (False, ROWS + 1)
    assert "inserted outside" in (report.problem or "")


def test_row_replaced_by_a_forged_one_with_a_plausible_seq_is_found(
    ctx: Context, store: SqlStore
) -> None:
    populate(ctx)
    rows = _rows(store)
    forged = _forge(rows[3])  # seq 5, correctly linked to row 4 and correctly hashed
    assert forged.seq == 5 and forged.hash != rows[4].hash
    tamper(store, f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq = 5", _insert(forged))  # type: ignore[arg-type]
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 5, 4)
    assert "row 5 was rewritten" in (report.problem or "")


def test_swapped_seqs_are_found(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    where = f"project = '{PROJECT}'"
    tamper(
        store,
        f"UPDATE audit SET seq = 1000 WHERE {where} AND seq = 3",
        f"UPDATE audit SET seq = 3 WHERE {where} AND seq = 6",
        f"UPDATE audit SET seq = 6 WHERE {where} AND seq = 1000",
    )
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 3, 2)


def test_rewrite_rehashed_to_the_head_is_caught_only_by_a_checkpoint(
    ctx: Context, store: SqlStore
) -> None:
    populate(ctx)
    rows = _rows(store)
    checkpoint = Anchor(7, rows[6].hash)
    # A superuser rewrites rows 6.. with a consistent chain and moves the recorded head too.
    forged = [_forge(rows[4], seq=6, reason="rewritten")]
    for _ in range(2):
        forged.append(_forge(forged[-1]))
    deletes = [f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq >= 6"]
    moves_head = (
        update(projects)
        .where(projects.c.name == PROJECT)
        .values(audit_seq=forged[-1].seq, audit_head=forged[-1].hash)
    )
    tamper(store, *deletes, *(_insert(f) for f in forged), moves_head)  # type: ignore[arg-type]
    assert audit_svc.verify(ctx, PROJECT).ok  # self-consistent: nothing inside can tell
    report = audit_svc.verify(ctx, PROJECT, checkpoint)
    assert (report.ok, report.checkpoint_ok, report.first_bad_seq) == (False, False, 7)
    assert "rewritten" in (report.problem or "")


def test_truncated_tail_is_caught_only_by_a_checkpoint(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    rows = _rows(store)
    checkpoint = Anchor(ROWS, rows[-1].hash)
    assert audit_svc.verify(ctx, PROJECT, checkpoint).checkpoint_ok is True
    tamper(
        store,
        f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq > 6",
        update(projects)
        .where(projects.c.name == PROJECT)
        .values(audit_seq=6, audit_head=rows[5].hash),
    )
    assert audit_svc.verify(ctx, PROJECT).ok
    report = audit_svc.verify(ctx, PROJECT, checkpoint)
    assert (report.ok, report.checkpoint_ok, report.first_bad_seq) == (False, False, 7)
    assert "deleted after the checkpoint" in (report.problem or "")
