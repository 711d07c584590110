"""The audit endpoints: verify (with a checkpoint), signed checkpoints, evidence export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from promptstage.domain.checkpoint import Checkpoint, public_key_of, verify_checkpoint
from promptstage.service import keys
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from support import audit as audit_helpers
from support.audit import PROJECT, Api, populate, tamper

# The audit fixtures (tests/support/audit.py), resolved here before this folder's conftest.
audit_postgres_url = audit_helpers.audit_postgres_url
database_url = audit_helpers.database_url
store = audit_helpers.store
ctx = audit_helpers.ctx
signing_key = audit_helpers.signing_key
make_api = audit_helpers.make_api

P = f"/api/v1/projects/{PROJECT}/audit"


def test_verify_reports_the_first_bad_seq(
    ctx: Context, store: SqlStore, make_api: Callable[..., Api]
) -> None:
    populate(ctx)
    api = make_api()
    body = api.request("GET", f"{P}/verify").json()
    assert body["ok"] is True and body["checked"] == 8 and "checkpoint" not in body
    tamper(store, f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq = 4")
    body = api.request("GET", f"{P}/verify").json()
    assert (body["ok"], body["first_bad_seq"], body["checked"]) == (False, 4, 3)


def test_checkpoint_is_signed_and_then_held_by_the_chain(
    ctx: Context, store: SqlStore, make_api: Callable[..., Api], signing_key: str
) -> None:
    populate(ctx)
    api = make_api(audit_signing_key=signing_key)
    response = api.request("POST", f"{P}/checkpoint")
    assert response.status_code == 200, response.text
    doc = response.json()
    assert set(doc) == {"project", "seq", "head_hash", "at", "signature", "public_key", "algorithm"}
    assert (doc["project"], doc["seq"], doc["algorithm"]) == (PROJECT, 8, "ed25519")
    assert doc["public_key"] == public_key_of(signing_key)
    verify_checkpoint(Checkpoint.from_json(doc), public_key_of(signing_key))
    params = {"checkpoint_seq": doc["seq"], "checkpoint_hash": doc["head_hash"]}
    body = api.request("GET", f"{P}/verify", params=params).json()
    assert body["ok"] is True
    assert body["checkpoint"] == {"seq": 8, "head_hash": doc["head_hash"], "ok": True}
    # A superuser truncates the tail and moves the recorded head: only the checkpoint knows.
    with store.unit_of_work() as uow:
        sixth = list(uow.iter_audit(PROJECT))[5]
    tamper(
        store,
        f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq > 6",
        f"UPDATE projects SET audit_seq = 6, audit_head = '{sixth.hash}' WHERE name = '{PROJECT}'",
    )
    assert api.request("GET", f"{P}/verify").json()["ok"] is True
    body = api.request("GET", f"{P}/verify", params=params).json()
    assert (body["ok"], body["first_bad_seq"], body["checkpoint"]["ok"]) == (False, 7, False)


def test_checkpoint_without_a_key_is_503_naming_the_setting(
    ctx: Context, make_api: Callable[..., Api]
) -> None:
    populate(ctx)
    response = make_api().request("POST", f"{P}/checkpoint")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["field"] == "PROMPTSTAGE_AUDIT_SIGNING_KEY"
    assert "PROMPTSTAGE_AUDIT_SIGNING_KEY" in error["message"] and "keygen" in error["message"]
    bad = make_api(audit_signing_key="not-a-key").request("POST", f"{P}/checkpoint")
    assert bad.status_code == 503 and "signature" not in bad.text
    assert "32-byte" in bad.json()["error"]["message"]


def test_a_broken_chain_is_never_signed(
    ctx: Context, store: SqlStore, make_api: Callable[..., Api], signing_key: str
) -> None:
    populate(ctx)
    tamper(store, f"UPDATE audit SET actor = 'nobody' WHERE project = '{PROJECT}' AND seq = 3")
    response = make_api(audit_signing_key=signing_key).request("POST", f"{P}/checkpoint")
    assert response.status_code == 409
    assert "seq 3" in response.json()["error"]["message"]


def test_checkpoint_needs_admin_and_verify_needs_editor(
    ctx: Context, make_api: Callable[..., Api], signing_key: str
) -> None:
    populate(ctx)
    api = make_api(audit_signing_key=signing_key)
    _, editor = keys.create_key(ctx, "key:test", PROJECT, "ed", "editor")
    _, runtime = keys.create_key(ctx, "key:test", PROJECT, "rt", "runtime")
    assert api.as_key(editor).request("POST", f"{P}/checkpoint").status_code == 403
    assert api.as_key(editor).request("GET", f"{P}/verify").status_code == 200
    assert api.as_key(editor).request("GET", f"{P}/export").status_code == 200
    assert api.as_key(runtime).request("GET", f"{P}/verify").status_code == 403
    assert api.as_key(runtime).request("GET", f"{P}/export").status_code == 403
    assert api.as_key(None).request("POST", f"{P}/checkpoint").status_code == 401


def test_verify_wants_both_checkpoint_parameters(
    ctx: Context, make_api: Callable[..., Api]
) -> None:
    populate(ctx)
    api = make_api()
    only_seq = api.request("GET", f"{P}/verify", params={"checkpoint_seq": 3})
    assert only_seq.status_code == 422 and only_seq.json()["error"]["field"] == "checkpoint_hash"
    only_hash = api.request("GET", f"{P}/verify", params={"checkpoint_hash": "sha256:00"})
    assert only_hash.status_code == 422 and only_hash.json()["error"]["field"] == "checkpoint_seq"
    assert (
        api.request(
            "GET", f"{P}/verify", params={"checkpoint_seq": -1, "checkpoint_hash": "x"}
        ).status_code
        == 422
    )


def test_export_jsonl_and_csv(ctx: Context, make_api: Callable[..., Api]) -> None:
    populate(ctx)
    api = make_api()
    response = api.request("GET", f"{P}/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["x-promptstage-audit-chain"] == "ok"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [r["seq"] for r in lines] == list(range(1, 9))
    as_csv = api.request("GET", f"{P}/export", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["seq"]) for r in rows] == list(range(1, 9))
    assert json.loads(rows[7]["label_state"]) == lines[7]["label_state"]
    window = api.request(
        "GET", f"{P}/export", params={"since": lines[2]["at"], "until": lines[5]["at"]}
    )
    assert [json.loads(x)["seq"] for x in window.text.splitlines()] == [3, 4, 5]


def test_export_refuses_bad_parameters(ctx: Context, make_api: Callable[..., Api]) -> None:
    populate(ctx)
    api = make_api()
    for params, field in (
        ({"format": "xml"}, "format"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ):
        response = api.request("GET", f"{P}/export", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field
    assert api.request("GET", "/api/v1/projects/nope/audit/export").status_code == 404
