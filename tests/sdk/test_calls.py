"""Call records, the bounded queue and the JSON bodies."""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest

from promptstage.errors import InvalidInputError
from promptstage.sdk.calls import Call, Outbox, Recorder
from promptstage.sdk.prompt import for_call, from_fallback
from promptstage.sdk.state import build_state
from promptstage.sdk.wire import encode, unit_hash

from .helpers import PROJECT, basic_snapshot


@pytest.fixture
def prompt():
    state = build_state(basic_snapshot(), PROJECT, source="server")
    return for_call(state.entries[("booking.system", "prod")].base, "user-42", {"channel": "sms"})


def bodies(records):
    out = {}
    for chunk in encode(records, PROJECT):
        key = "calls" if chunk.kind == "call" else "scores"
        out.setdefault(key, []).extend(json.loads(chunk.body)[key])
    return out


def recorder(maxlen=100, batch=50, redact=None):
    wakes = []
    return Recorder(Outbox(maxlen, batch, lambda: wakes.append(1)), redact), wakes


def test_call_record_fields(prompt):
    rec, _ = recorder()
    with Call(rec, prompt, {"clinic": "Ana"}) as call:
        call.finish(output="Booked.", tokens_in=812, tokens_out=95, cost=0.01, model="gpt-4o")
    assert uuid.UUID(call.id).version == 4
    (chunk,) = encode(rec.outbox.take(10), PROJECT)
    calls = chunk.body
    (body,) = json.loads(calls)["calls"]
    assert set(body) == {
        "id", "at", "prompt", "label", "version", "digest", "release_id", "arm", "unit_hash",
        "context", "variables", "output", "model", "latency_ms", "tokens_in", "tokens_out",
        "cost", "error",
    }  # fmt: skip
    assert body["unit_hash"] == hashlib.sha256(b"clinic:user-42").hexdigest()[:32]
    assert "user-42" not in calls.decode()
    assert body["at"].endswith("Z") and body["latency_ms"] >= 0
    assert (body["prompt"], body["label"], body["version"], body["arm"]) == (
        "booking.system", "prod", 1, "baseline",
    )  # fmt: skip
    assert (body["output"], body["tokens_in"], body["tokens_out"]) == ("Booked.", 812, 95)
    assert body["context"] == {"channel": "sms"} and body["variables"] == {"clinic": "Ana"}


def test_exception_is_recorded_and_reraised(prompt):
    rec, _ = recorder()
    with pytest.raises(ValueError, match="boom"), Call(rec, prompt, None):
        raise ValueError("boom")
    (body,) = bodies(rec.outbox.take(10))["calls"]
    assert body["error"] == "ValueError: boom"


def test_finish_without_with_records_once(prompt):
    rec, _ = recorder()
    call = Call(rec, prompt, None)
    call.finish(output="x")
    call.finish(output="y")
    assert len(rec.outbox) == 1


def test_redactor_runs_before_queueing(prompt):
    seen = []

    def redact(field, value):
        seen.append(field)
        return "[redacted]" if field == "output" else value

    rec, _ = recorder(redact=redact)
    with Call(rec, prompt, {"clinic": "Ana"}) as call:
        call.finish(output="secret")
    assert sorted(seen) == ["context", "output", "variables"]
    assert rec.outbox.take(1)[0][6] == "[redacted]"


def test_overflow_drops_the_oldest_and_counts(prompt):
    rec, wakes = recorder(maxlen=10, batch=5)
    ids = []
    started = time.perf_counter()
    for _ in range(25):
        with Call(rec, prompt, None) as call:
            ids.append(call.id)
    assert time.perf_counter() - started < 0.5
    assert rec.outbox.dropped == 15 and len(rec.outbox) == 10
    assert [r[1] for r in rec.outbox.take(100)] == ids[15:]
    assert wakes  # the sender was told a batch was ready


def test_a_failed_batch_settled_back_keeps_the_bound(prompt):
    rec, _ = recorder(maxlen=4, batch=4)
    for _ in range(4):
        rec.score("c", "csat", 5, "user")
    batch = rec.outbox.take(3)
    for _ in range(3):
        rec.score("d", "csat", 1, "user")
    rec.outbox.settle(len(batch), batch)
    assert len(rec.outbox) == 4 and rec.outbox.dropped == 3
    assert [r[1] for r in rec.outbox.take(10)] == ["c", "d", "d", "d"]


def test_records_taken_stay_pending_until_settled(prompt):
    rec, _ = recorder()
    for _ in range(3):
        rec.score("c", "csat", 5, "user")
    batch = rec.outbox.take(2)
    assert (rec.outbox.pending, len(rec.outbox)) == (3, 1)
    rec.outbox.settle(len(batch), failed=batch[:1])
    assert (rec.outbox.pending, len(rec.outbox)) == (2, 2)
    rec.outbox.settle(len(rec.outbox.take(10)), failed=[])
    assert rec.outbox.pending == 0


def test_scores_validate_and_encode():
    rec, _ = recorder()
    rec.score("abc", "thumbs_down", True, "user")
    rec.score("abc", "eval.groundedness", 0.75, "evaluator")
    assert bodies(rec.outbox.take(10))["scores"] == [
        {"call_id": "abc", "name": "thumbs_down", "value": 1, "source": "user"},
        {"call_id": "abc", "name": "eval.groundedness", "value": 0.75, "source": "evaluator"},
    ]
    for bad in [("", "x", 1), ("a", "", 1), ("a", "x", float("nan")), ("a", "x", "5")]:
        with pytest.raises(InvalidInputError):
            rec.score(*bad, "user")
    with pytest.raises(InvalidInputError, match="metric name"):
        rec.score("a", "1st", 1, "user")
    with pytest.raises(InvalidInputError, match="source 'me'"):
        rec.score("a", "csat", 1, "me")


def test_values_json_cannot_hold_are_stringified(prompt):
    rec, _ = recorder()
    with Call(rec, prompt, {"clinic": object()}) as call:
        call.finish(output=float("nan"))
    (body,) = bodies(rec.outbox.take(1))["calls"]
    assert body["output"] == "nan" and body["variables"]["clinic"].startswith("<object")


def test_unit_hash_is_per_project():
    assert unit_hash("a", "u") != unit_hash("b", "u")
    assert len(unit_hash("a", "u")) == 32


def test_a_failing_redactor_nulls_the_field_and_never_raises(prompt, caplog):
    def redact(field, value):
        if field == "output":
            raise RuntimeError("bug in redactor")
        return value

    rec, _ = recorder(redact=redact)
    with Call(rec, prompt, {"clinic": "Ana"}) as call:
        call.finish(output="secret")
    record = rec.outbox.take(1)[0]
    assert record[6] is None and record[5] == {"clinic": "Ana"}
    assert "redact() failed on output" in caplog.text


def test_batches_are_split_by_body_size(prompt):
    rec, _ = recorder(maxlen=1000)
    for i in range(30):
        with Call(rec, prompt, None) as call:
            call.finish(output="x" * 1000 + str(i))
    chunks = encode(rec.outbox.take(100), PROJECT, max_body=5000)
    assert len(chunks) > 5 and all(len(c.body) <= 5000 for c in chunks)
    assert sum(len(c.records) for c in chunks) == 30
    outputs = [c["output"] for chunk in chunks for c in json.loads(chunk.body)["calls"]]
    assert outputs == ["x" * 1000 + str(i) for i in range(30)]


def test_oversized_values_are_truncated(prompt):
    rec, _ = recorder()
    with Call(rec, prompt, {"doc": "y" * 100_000}) as call:
        call.finish(output="z" * 100_000)
    (body,) = bodies(rec.outbox.take(1))["calls"]
    assert body["variables"] == {"_truncated": "100010 characters"}
    assert len(body["output"]) < 70_000 and body["output"].endswith(
        "[truncated from 100002 characters]"
    )


def test_fallback_calls_are_not_sent():
    rec, _ = recorder()
    with Call(rec, from_fallback("x", "prod", "Hi"), None):
        pass
    assert encode(rec.outbox.take(1), PROJECT) == []


def test_a_resent_score_body_carries_the_same_idempotency_key(prompt):
    """Scores have no id: a score body sent again after a lost answer must not store them
    twice, so it carries a key derived from its bytes (issue 11, defect 9). Calls carry ids,
    which the server already deduplicates, and need no key."""
    rec, _ = recorder()
    rec.score("abc", "csat", 1, "user")
    with Call(rec, prompt, {"clinic": "Ana"}) as call:
        call.finish(output="ok")
    chunks = {chunk.kind: chunk for chunk in encode(rec.outbox.take(10), PROJECT)}
    score_key = chunks["score"].headers()["Idempotency-Key"]
    again = encode([chunks["score"].records[0]], PROJECT)[0].headers()["Idempotency-Key"]
    assert again == score_key and score_key.startswith("scores-")
    assert "Idempotency-Key" not in chunks["call"].headers()
