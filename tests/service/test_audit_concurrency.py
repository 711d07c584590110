"""Concurrent writers never fork the chain (security.md fault test 14), on both backends.

Eight threads, spread over two stores (two connection pools, as two replicas would have), each
make 25 real service changes at once: create a prompt, write versions, move labels.
"""

from __future__ import annotations

import threading
from collections import Counter
from itertools import pairwise

from promptstage.domain.audit import GENESIS
from promptstage.service import audit as audit_svc
from promptstage.service import labels, prompts
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from support import audit as audit_helpers
from support.audit import ACTOR, MODEL, PROJECT

# The audit fixtures (tests/support/audit.py), resolved here before this folder's conftest.
audit_postgres_url = audit_helpers.audit_postgres_url
database_url = audit_helpers.database_url
store = audit_helpers.store
ctx = audit_helpers.ctx
signing_key = audit_helpers.signing_key
make_api = audit_helpers.make_api

THREADS = 8
OPS = 25  # per thread: 1 prompt, then versions and label moves alternating


def _writer(
    ctx: Context, worker: int, barrier: threading.Barrier, errors: list[BaseException]
) -> None:
    name = f"p{worker}"
    try:
        barrier.wait()
        prompts.create_prompt(ctx, ACTOR, PROJECT, name, "text")
        for op in range(1, OPS):
            if op % 2:
                prompts.write_version(
                    ctx, ACTOR, PROJECT, name, template=f"{name} says {op} to {{{{ who }}}}",
                    config={"model": MODEL},
                )  # fmt: skip
            else:
                labels.move_label(ctx, ACTOR, PROJECT, name, f"l{op % 3}", op // 2, reason=str(op))
    except BaseException as exc:  # surfaced by the test, not swallowed by the thread
        errors.append(exc)


def test_parallel_writers_keep_one_linear_chain(database_url: str, store: SqlStore) -> None:
    other = SqlStore.from_url(database_url)
    try:
        contexts = [Context(store=s, bus=EventBus()) for s in (store, other)]
        prompts.create_project(contexts[0], ACTOR, PROJECT)
        barrier = threading.Barrier(THREADS)
        errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_writer, args=(contexts[i % 2], i, barrier, errors))
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert not any(t.is_alive() for t in threads)
    finally:
        other.close()

    with store.unit_of_work() as uow:
        rows = list(uow.iter_audit(PROJECT))
        head = uow.audit_head(PROJECT)
        events = uow.events_since(PROJECT, 0, limit=10_000)
    expected = 1 + THREADS * OPS
    assert [r.seq for r in rows] == list(range(1, expected + 1))  # contiguous, none lost
    prev_hashes = Counter(r.prev_hash for r in rows)
    assert prev_hashes.most_common(1)[0][1] == 1  # no two rows share a parent: no fork
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in pairwise(rows))
    assert head == (expected, rows[-1].hash)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    report = audit_svc.verify(contexts[0], PROJECT)
    assert (report.ok, report.checked) == (True, expected)
