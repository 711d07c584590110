"""The audit hash chain (SPEC §8): ``hash = sha256(prev_hash || canonical(row))``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .canonical import canonical_json
from .models import AuditRecord

GENESIS = "sha256:" + "0" * 64


def chain_hash(prev_hash: str, chained: dict[str, Any]) -> str:
    """The hash of one audit row given the previous row's hash."""
    digest = hashlib.sha256(prev_hash.encode("ascii") + canonical_json(chained)).hexdigest()
    return "sha256:" + digest


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    head: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(records: Iterable[AuditRecord]) -> ChainReport:
    """Walk records in sequence order and report the first changed, missing or reordered row."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for record in records:
        if record.seq != expected_seq:
            return ChainReport(False, checked, prev, expected_seq, f"row {expected_seq} is missing or out of order (found {record.seq})")
        if record.prev_hash != prev:
            return ChainReport(False, checked, prev, record.seq, "prev_hash does not match the previous row")
        if chain_hash(prev, record.chained()) != record.hash:
            return ChainReport(False, checked, prev, record.seq, "row content does not match its hash")
        prev = record.hash
        expected_seq += 1
        checked += 1
    return ChainReport(True, checked, prev)
