"""Conformance of ``IdempotencyRepo`` on SQLite and Postgres: one claim per key, changes only
by the owner, concurrent claims from two connections insert exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from promptstage.domain.idempotency import IdempotencyRecord, StoredResponse
from promptstage.store.sql import SqlStore

AT = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC)
ANSWER = StoredResponse(201, (("content-type", "application/json"), ("etag", '"v1"')), b"\x00{}")


def _record(owner: str = "o1", key: str = "k1") -> IdempotencyRecord:
    return IdempotencyRecord("caller:op", key, "hash", owner, AT)


def test_claim_mark_finish_round_trip(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        assert uow.claim_idempotency(_record()) is None
        assert uow.claim_idempotency(_record("o2")) == _record()
        assert not uow.mark_idempotency_applied("caller:op", "k1", "o2")  # not its claim
        assert uow.mark_idempotency_applied("caller:op", "k1", "o1")
        assert not uow.finish_idempotency("caller:op", "k1", "o2", ANSWER)
        assert uow.finish_idempotency("caller:op", "k1", "o1", ANSWER)
    with store.unit_of_work(write=True) as uow:
        found = uow.claim_idempotency(_record("o3"))
    assert found == replace(_record(), applied=True, response=ANSWER)


def test_replace_release_and_prune(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.claim_idempotency(_record())
        assert not uow.replace_idempotency("o9", _record("o2"))
        assert uow.replace_idempotency("o1", _record("o2"))
        uow.release_idempotency("caller:op", "k1", "o1")  # not the owner any more: kept
        assert uow.claim_idempotency(_record("o3")) == _record("o2")
        uow.release_idempotency("caller:op", "k1", "o2")
        assert uow.claim_idempotency(_record("o3")) is None
        uow.mark_idempotency_applied("caller:op", "k1", "o3")
        uow.release_idempotency("caller:op", "k1", "o3")  # applied: never released
        assert uow.claim_idempotency(_record("o4")) is not None
        uow.claim_idempotency(replace(_record(key="k2"), created_at=AT + timedelta(hours=1)))
        assert uow.delete_idempotency_before(AT + timedelta(minutes=1)) == 1
        assert uow.claim_idempotency(_record(key="k2")) is not None


def test_concurrent_claims_insert_once(make_store: Callable[[], SqlStore]) -> None:
    stores = [make_store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[IdempotencyRecord | None] = []

    def claim(store: SqlStore, owner: str) -> None:
        barrier.wait()
        with store.unit_of_work(write=True) as uow:
            results.append(uow.claim_idempotency(_record(owner)))

    threads = [threading.Thread(target=claim, args=(s, f"o{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1
    owners = {r.owner for r in results if r is not None}
    assert len(owners) == 1
