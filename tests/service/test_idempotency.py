"""Claims of idempotency keys: one attempt runs, its writes mark the claim applied in their
own commit, a lost answer is never run again, a dead attempt's claim is taken over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from promptstage.domain.idempotency import LEASE, TTL, StoredResponse
from promptstage.errors import ConflictError, InvalidInputError
from promptstage.service import idempotency
from promptstage.service import prompts as prompts_svc
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.service.idempotency import Claim, RecordingStore
from promptstage.store.sql import SqlStore

ANSWER = StoredResponse(201, (("content-type", "application/json"),), b'{"ok": true}')


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rctx(store: SqlStore, clock: Clock, project: str) -> Context:
    """A context as ``create_app`` builds it: the store wrapped in a ``RecordingStore``."""
    ctx = Context(store=RecordingStore(store), bus=EventBus(), clock=clock)
    prompts_svc.create_project(ctx, "test", project, "")
    return ctx


def _begin(ctx: Context, key: str, fingerprint: str = "h1") -> Claim:
    claim = idempotency.begin(ctx, "caller:op", key, fingerprint)
    assert isinstance(claim, Claim)
    return claim


def _write(ctx: Context, project: str, claim: Claim) -> None:
    with idempotency.holding(claim):
        prompts_svc.create_prompt(ctx, "test", project, f"p{uuid.uuid4().hex[:8]}", "text", "", [])


def test_one_claim_then_replay(rctx: Context, project: str) -> None:
    key = uuid.uuid4().hex
    claim = _begin(rctx, key)
    with pytest.raises(ConflictError) as running:
        idempotency.begin(rctx, "caller:op", key, "h1")
    assert running.value.field == "Idempotency-Key" and running.value.details["retry_after"] > 0
    _write(rctx, project, claim)
    idempotency.finish(rctx, claim, ANSWER)
    assert idempotency.begin(rctx, "caller:op", key, "h1") == ANSWER
    with pytest.raises(InvalidInputError):
        idempotency.begin(rctx, "caller:op", key, "h2")
    assert isinstance(idempotency.begin(rctx, "other:op", key, "h1"), Claim)  # another scope


def test_an_applied_claim_without_an_answer_is_never_run_again(
    rctx: Context, project: str, clock: Clock
) -> None:
    key = uuid.uuid4().hex
    _write(rctx, project, _begin(rctx, key))  # committed; the process died before finish
    clock.now += LEASE * 10
    with pytest.raises(ConflictError, match="applied but its answer was lost"):
        idempotency.begin(rctx, "caller:op", key, "h1")


def test_a_dead_attempt_is_taken_over_and_cannot_commit_late(
    rctx: Context, project: str, clock: Clock
) -> None:
    key = uuid.uuid4().hex
    slow = _begin(rctx, key)
    clock.now += LEASE
    fresh = _begin(rctx, key)  # the lease ran out with nothing applied: a retry takes over
    assert fresh.owner != slow.owner
    with pytest.raises(ConflictError, match="taken over"):
        _write(rctx, project, slow)  # the first attempt wakes up: its write rolls back
    _write(rctx, project, fresh)
    idempotency.finish(rctx, fresh, ANSWER)
    assert idempotency.begin(rctx, "caller:op", key, "h1") == ANSWER


def test_a_server_error_before_any_write_frees_the_key(rctx: Context) -> None:
    key = uuid.uuid4().hex
    idempotency.finish(rctx, _begin(rctx, key), StoredResponse(500, (), b"{}"))
    assert isinstance(idempotency.begin(rctx, "caller:op", key, "h1"), Claim)
    idempotency.abandon(rctx, _begin(rctx, uuid.uuid4().hex))


def test_keys_expire_after_a_day_and_are_pruned(rctx: Context, clock: Clock) -> None:
    key = uuid.uuid4().hex
    idempotency.finish(rctx, _begin(rctx, key), ANSWER)
    clock.now += TTL - timedelta(seconds=1)
    with pytest.raises(InvalidInputError):  # still the first request's key
        idempotency.begin(rctx, "caller:op", key, "h2")
    clock.now += timedelta(seconds=2)
    assert idempotency.prune(rctx) >= 1
    assert isinstance(idempotency.begin(rctx, "caller:op", key, "h2"), Claim)
