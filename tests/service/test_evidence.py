"""Evidence export (security.md row 25): every sampled change carries all its fields."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from promptstage.domain.models import AuditRecord
from promptstage.errors import InvalidInputError
from promptstage.service import evidence, labels
from promptstage.service.context import Context
from promptstage.store.base import UnitOfWork
from promptstage.store.sql import SqlStore
from support import audit as audit_helpers
from support.audit import ACTOR, PROJECT, populate, tamper

# The audit fixtures (tests/support/audit.py), resolved here before this folder's conftest.
audit_postgres_url = audit_helpers.audit_postgres_url
database_url = audit_helpers.database_url
store = audit_helpers.store
ctx = audit_helpers.ctx
signing_key = audit_helpers.signing_key
make_api = audit_helpers.make_api


def _by_seq(ctx: Context, **kwargs: Any) -> dict[int, dict[str, Any]]:
    return {r["seq"]: r for r in evidence.export_evidence(ctx, PROJECT, **kwargs).records}


def test_every_change_has_every_column(ctx: Context) -> None:
    populate(ctx)
    records = evidence.export_evidence(ctx, PROJECT).records
    assert len(records) == 8
    for record in records:
        assert tuple(record) == evidence.COLUMNS
        assert record["actor"] == ACTOR and record["hash"].startswith("sha256:")
        assert record["approvals"] == []  # filled by change requests (four-eyes) later


def test_version_writes_carry_the_diff_against_their_parent(ctx: Context) -> None:
    populate(ctx)
    rows = _by_seq(ctx)
    first, second = rows[3], rows[4]
    assert first["action"] == "version.create" and first["version_diff"]["from"] is None
    assert "+Hello {{ name }} #1" in first["version_diff"]["template"]
    diff = second["version_diff"]
    assert (diff["from"], diff["to"]) == (1, 2)
    assert "-Hello {{ name }} #1" in diff["template"] and "+Hello {{ name }} #2" in diff["template"]
    assert diff["config"] == [
        {"field": "params.temperature", "from": 0.1, "to": 0.2, "change": "changed"}
    ]
    assert rows[1]["version_diff"] is None and rows[6]["version_diff"] is None


def test_label_moves_carry_the_resulting_label_state(ctx: Context) -> None:
    populate(ctx, moves=2)  # prod -> 2, prod -> 3
    labels.move_label(ctx, ACTOR, PROJECT, "greet", "staging", 1, reason="try")
    labels.delete_label(ctx, ACTOR, PROJECT, "greet", "prod", reason="retire")
    rows = _by_seq(ctx)
    assert rows[6]["label_state"]["labels"] == {"prod": 2}
    assert rows[7]["label_state"]["version"] == 3
    staging = rows[8]["label_state"]
    assert staging["labels"] == {"prod": 3, "staging": 1}
    assert staging["digest"].startswith("sha256:") and staging["version"] == 1
    assert rows[9]["label_state"] == {
        "prompt": "greet", "label": "prod", "version": None, "digest": None,
        "labels": {"staging": 1},
    }  # fmt: skip
    assert rows[9]["reason"] == "retire" and rows[9]["before"] == {"version": 3}
    assert rows[2]["label_state"] is None


def test_a_window_still_replays_label_state_from_the_start(ctx: Context) -> None:
    populate(ctx, moves=3)
    everything = evidence.export_evidence(ctx, PROJECT).records
    since = datetime.fromisoformat(everything[7]["at"])
    (last,) = evidence.export_evidence(ctx, PROJECT, since=since).records
    assert last == everything[7]
    assert (
        evidence.export_evidence(ctx, PROJECT, until=datetime(2000, 1, 1, tzinfo=UTC)).records == []
    )


def test_the_approvals_hook_is_asked_per_change(ctx: Context) -> None:
    populate(ctx)
    asked: list[int] = []

    def approvals(uow: UnitOfWork, record: AuditRecord) -> list[dict[str, Any]]:
        asked.append(record.seq)
        return [{"by": "key:bob", "at": "2026-03-01T00:00:00Z"}] if record.seq == 7 else []

    records = evidence.export_evidence(ctx, PROJECT, approvals=approvals).records
    assert asked == list(range(1, 9))
    assert records[6]["approvals"] == [{"by": "key:bob", "at": "2026-03-01T00:00:00Z"}]


def test_the_export_says_whether_the_chain_verified(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    assert evidence.export_evidence(ctx, PROJECT).chain.ok
    tamper(store, f"UPDATE audit SET reason = 'edited' WHERE project = '{PROJECT}' AND seq = 6")
    found = evidence.export_evidence(ctx, PROJECT)
    assert (found.chain.ok, found.chain.first_bad_seq) == (False, 6)
    assert found.records[5]["reason"] == "edited"  # exported as stored, flagged by the chain


def test_csv_flattens_nested_fields_as_json(ctx: Context) -> None:
    populate(ctx)
    records = evidence.export_evidence(ctx, PROJECT).records
    rows = list(csv.reader(io.StringIO(evidence.to_csv(records))))
    assert tuple(rows[0]) == evidence.COLUMNS
    move = dict(zip(rows[0], rows[8], strict=True))
    assert json.loads(move["after"]) == records[7]["after"]
    assert json.loads(move["label_state"]) == records[7]["label_state"]
    assert move["version_diff"] == "" and move["approvals"] == "[]"
    lines = evidence.to_jsonl(records).splitlines()
    assert [json.loads(line) for line in lines] == records


def test_bounds_parse_dates_and_naive_times_as_utc() -> None:
    assert evidence.parse_bound("2026-03-01", "since") == datetime(2026, 3, 1, tzinfo=UTC)
    assert evidence.parse_bound("2026-03-01T10:00:00", "since") == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )
    assert evidence.parse_bound("2026-03-01T12:00:00+02:00", "until") == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )
    assert evidence.parse_bound(None, "since") is None
    with pytest.raises(InvalidInputError) as raised:
        evidence.parse_bound("last tuesday", "until")
    assert raised.value.field == "until"
