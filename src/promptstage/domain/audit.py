"""The audit hash chain (SPEC §8): ``hash = sha256(prev_hash || canonical(row))``.

Each project has its own chain. Row ``n`` carries ``seq = n``, the ``hash`` of row ``n - 1``
(``GENESIS`` for row 1) as ``prev_hash``, and its own ``hash`` over every other field.
:func:`verify_chain` walks the rows in sequence order and names the first bad one:

- a missing or reordered row breaks the ``seq`` count;
- an edited row no longer matches its own ``hash``;
- an edited *and re-hashed* row still matches its own hash, but the next row links to the
  original hash: the next row is self-consistent, so the culprit is the row before it.

What the chain alone cannot see: a rewrite of the newest rows that is re-hashed all the way to
the head, or a deleted tail. The project row records the head the application wrote last
(``recorded``), and a signed checkpoint held outside the database (``checkpoint``) pins a
``(seq, hash)`` pair that a later rewrite or truncation cannot match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .canonical import canonical_json
from .models import AuditRecord

GENESIS = "sha256:" + "0" * 64


def chain_hash(prev_hash: str, chained: dict[str, Any]) -> str:
    """The hash of one audit row given the previous row's hash.

    Args:
        prev_hash: the previous row's ``hash`` (``GENESIS`` for the first row).
        chained: the row's hashed fields, ``AuditRecord.chained()``.

    Returns:
        ``"sha256:"`` plus 64 hex digits.
    """
    digest = hashlib.sha256(prev_hash.encode("ascii") + canonical_json(chained)).hexdigest()
    return "sha256:" + digest


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit rows to list; ``None`` fields do not filter.

    Attributes:
        actor: the actor exactly, or a principal's name, which matches every actor of hers
            (``alice`` matches ``alice (ui)`` and ``alice (key:<prefix>)``).
        action: an ``AuditAction`` value, exactly.
        prompt: rows about this prompt: its creation, its versions, its labels, its releases
            and its change requests.
        since: rows at or after this instant.
        until: rows before this instant.
    """

    actor: str | None = None
    action: str | None = None
    prompt: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Anchor:
    """A ``(seq, hash)`` pair the chain must still contain: a checkpoint or the recorded head."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The outcome of :func:`verify_chain`.

    Attributes:
        ok: every row, the recorded head and the checkpoint (if any) check out.
        checked: rows verified good before the first bad one (all of them when ``ok``).
        head: the hash of the last good row (``GENESIS`` when there is none).
        first_bad_seq: the first row that is missing, edited or reordered; ``None`` when ``ok``.
        problem: what is wrong with it, in words.
        checkpoint_ok: ``None`` without a checkpoint, else whether the chain still holds it.
    """

    ok: bool
    checked: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoint_ok: bool | None = None


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    recorded: Anchor | None = None,
    checkpoint: Anchor | None = None,
) -> ChainReport:
    """Walk records in sequence order and report the first changed, missing or reordered row.

    Args:
        records: one project's rows, ordered by ``seq``.
        recorded: the head the project row says was written last (``seq`` 0 for none); a chain
            that ends elsewhere lost its tail or gained a forged row.
        checkpoint: a signed ``(seq, hash)`` pair; the chain must contain row ``seq`` with
            exactly that hash.

    Returns:
        The report; ``ok`` only when the rows, the recorded head and the checkpoint all agree.
    """
    prev = GENESIS
    before_prev = GENESIS  # the hash of the row before ``prev``'s row
    checked = 0
    pinned: str | None = GENESIS if checkpoint is not None and checkpoint.seq == 0 else None
    at_recorded = GENESIS  # the hash of row ``recorded.seq``, as found
    for record in records:
        bad = _check_row(record, checked + 1, prev)
        if bad is not None:
            seq, problem = bad
            # A re-hashed row is caught one row late: the good prefix ends before it.
            good, head = (checked, prev) if seq == checked + 1 else (checked - 1, before_prev)
            return ChainReport(False, good, head, seq, problem, _pin(checkpoint, pinned, good))
        if checkpoint is not None and record.seq == checkpoint.seq:
            pinned = record.hash
        if recorded is not None and record.seq == recorded.seq:
            at_recorded = record.hash
        before_prev, prev = prev, record.hash
        checked += 1
    if recorded is not None and (recorded.seq, recorded.hash) != (checked, prev):
        first_bad, why = _head_mismatch(checked, recorded)
        good, head = (
            (checked, prev) if checked < recorded.seq
            else (recorded.seq, at_recorded) if checked > recorded.seq
            else (checked - 1, before_prev)
        )  # fmt: skip
        return ChainReport(False, good, head, first_bad, why, _pin(checkpoint, pinned, good))
    if checkpoint is not None and pinned != checkpoint.hash:
        return ChainReport(
            False, checked, prev, _checkpoint_bad_seq(checked, checkpoint),
            _checkpoint_problem(checked, checkpoint, pinned), False,
        )  # fmt: skip
    return ChainReport(True, checked, prev, checkpoint_ok=None if checkpoint is None else True)


def _check_row(record: AuditRecord, expected: int, prev: str) -> tuple[int, str] | None:
    """``(first bad seq, problem)`` for this row, or ``None`` when it is sound."""
    if record.seq != expected:
        return expected, f"row {expected} is missing or out of order (found {record.seq})"
    if chain_hash(record.prev_hash, record.chained()) != record.hash:
        return record.seq, "row content does not match its hash (the row was edited)"
    if record.prev_hash != prev:
        if record.seq == 1:
            return 1, "the first row does not link to the genesis hash"
        return (
            record.seq - 1,
            f"row {record.seq - 1} was rewritten and re-hashed: row {record.seq} still links "
            "to its original hash",
        )
    return None


def _pin(checkpoint: Anchor | None, pinned: str | None, good: int) -> bool | None:
    if checkpoint is None:
        return None
    return checkpoint.seq <= good and pinned == checkpoint.hash


def _head_mismatch(checked: int, recorded: Anchor) -> tuple[int, str]:
    """``(first bad seq, problem)`` when the chain does not end at the recorded head."""
    if checked < recorded.seq:
        return checked + 1, (
            f"the chain ends at row {checked} but the project recorded row {recorded.seq} as its "
            f"head: rows {checked + 1}-{recorded.seq} were deleted"
        )
    if checked > recorded.seq:
        return recorded.seq + 1, (
            f"rows {recorded.seq + 1}-{checked} follow the head the project recorded "
            f"(row {recorded.seq}): they were inserted outside promptstage"
        )
    return checked, (
        f"row {checked} does not have the hash the project recorded for its head: the "
        "newest rows were rewritten and re-hashed"
    )


def _checkpoint_bad_seq(checked: int, checkpoint: Anchor) -> int:
    return checked + 1 if checked < checkpoint.seq else checkpoint.seq


def _checkpoint_problem(checked: int, checkpoint: Anchor, pinned: str | None) -> str:
    if checked < checkpoint.seq:
        return (
            f"the chain ends at row {checked} but the checkpoint covers row {checkpoint.seq}: "
            f"rows {checked + 1}-{checkpoint.seq} were deleted after the checkpoint"
        )
    return (
        f"row {checkpoint.seq} has hash {pinned} but the checkpoint signed {checkpoint.hash}: "
        f"rows up to {checkpoint.seq} were rewritten and re-hashed after the checkpoint"
    )
