"""The audit hash chain finds changed, deleted and reordered rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from promptstage.domain.audit import GENESIS, Anchor, chain_hash, verify_chain
from promptstage.domain.models import AuditRecord

AT = datetime(2026, 1, 2, tzinfo=UTC)


def make_chain(n: int) -> list[AuditRecord]:
    rows: list[AuditRecord] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        row = AuditRecord(
            "p",
            seq,
            AT + timedelta(seconds=seq),
            "key:x",
            "label.move",
            f"label:a/{seq}",
            {"version": seq - 1},
            {"version": seq},
            "",
            prev,
            "",
        )
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
    # Row 3 still links to row 2's original hash and is itself intact: row 2 is the culprit.
    assert (report.ok, report.first_bad_seq, report.checked) == (False, 2, 1)
    assert report.head == rows[0].hash and "row 2 was rewritten" in (report.problem or "")


def test_recorded_head_catches_a_deleted_tail_and_a_forged_append() -> None:
    rows = make_chain(4)
    head = Anchor(4, rows[-1].hash)
    assert verify_chain(rows, recorded=head).ok
    truncated = verify_chain(rows[:3], recorded=head)
    assert (truncated.ok, truncated.first_bad_seq, truncated.checked) == (False, 4, 3)
    appended = verify_chain(make_chain(5), recorded=head)
    assert not appended.ok  # rows 1-4 are the same; row 5 was added behind the app's back
    assert appended.first_bad_seq == 5 and "inserted outside" in (appended.problem or "")
    assert (appended.checked, appended.head) == (4, rows[-1].hash)
    assert verify_chain([], recorded=Anchor(0, GENESIS)).ok


def test_rehashed_head_is_caught_by_the_recorded_head() -> None:
    rows = make_chain(3)
    forged = dataclasses.replace(rows[2], reason="edited")
    rows[2] = dataclasses.replace(forged, hash=chain_hash(forged.prev_hash, forged.chained()))
    assert verify_chain(rows).ok  # nothing after it links to the original
    report = verify_chain(rows, recorded=Anchor(3, make_chain(3)[-1].hash))
    assert (report.ok, report.first_bad_seq, report.checked, report.head) == (
        False,
        3,
        2,
        rows[1].hash,
    )


def test_checkpoint_must_still_be_in_the_chain() -> None:
    rows = make_chain(5)
    checkpoint = Anchor(3, rows[2].hash)
    report = verify_chain(rows, checkpoint=checkpoint)
    assert (report.ok, report.checkpoint_ok) == (True, True)
    assert verify_chain(rows).checkpoint_ok is None
    # Truncated to 2 rows (and the recorded head moved along): only the checkpoint knows.
    cut = verify_chain(rows[:2], checkpoint=checkpoint)
    assert (cut.ok, cut.checkpoint_ok, cut.first_bad_seq) == (False, False, 3)
    assert "deleted after the checkpoint" in (cut.problem or "")
    # Rewritten from row 2 on and re-hashed consistently: only the checkpoint knows.
    rewritten = make_chain(2)
    prev = rewritten[-1].hash
    for seq in range(3, 6):
        row = AuditRecord(
            "p", seq, AT, "key:evil", "label.move", "label:a/x", None, None, "", prev, ""
        )
        row = dataclasses.replace(row, hash=chain_hash(prev, row.chained()))
        rewritten.append(row)
        prev = row.hash
    report = verify_chain(rewritten, checkpoint=checkpoint)
    assert (report.ok, report.checkpoint_ok, report.first_bad_seq) == (False, False, 3)
    assert "rewritten" in (report.problem or "")
    assert verify_chain([], checkpoint=Anchor(0, GENESIS)).ok


def test_a_checkpoint_beyond_a_broken_row_is_not_confirmed() -> None:
    rows = make_chain(5)
    rows[1] = dataclasses.replace(rows[1], reason="edited")
    report = verify_chain(rows, checkpoint=Anchor(4, rows[3].hash))
    assert (report.ok, report.first_bad_seq, report.checkpoint_ok) == (False, 2, False)
