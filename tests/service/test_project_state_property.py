"""Property tests (hypothesis): the per-prompt server state, maintained incrementally, always
equals a from-scratch build.

Hypothesis draws sequences of service writes (prompts created and archived, versions written,
labels moved, deleted and rolled back, releases started and acted on). After every write the
state brought forward by its events (``apply_events``, and through ``StateCache``) must equal
``build_state``: the snapshot body, every prompt's labels, versions and releases. A move must
share every untouched shard of the project map with the state before it (no per-project copy).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptstage.domain.wire import version_json
from promptstage.errors import NotFoundError, PromptstageError
from promptstage.service import labels, prompt_lifecycle, releases
from promptstage.service import prompts as svc
from promptstage.service.bus import EventBus
from promptstage.service.context import Context, utc_now
from promptstage.service.project_state import ProjectState, make_prompt_state
from promptstage.service.shard_map import ShardMap
from promptstage.service.snapshot import StateCache, build_state, resolve_label
from promptstage.service.snapshot_body import dumps, version_text
from promptstage.service.snapshot_delta import MAX_DELTA_EVENTS, apply_events
from promptstage.store.sql import SqlStore

ACTOR = "user:property"
PROMPTS = ("alpha", "beta", "gamma")
LABELS = ("prod", "staging")
CONFIG = {"model": {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"}}

operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(PROMPTS)),
    st.tuples(st.just("write"), st.sampled_from(PROMPTS), st.integers(1, 4)),
    st.tuples(
        st.just("move"), st.sampled_from(PROMPTS), st.sampled_from(LABELS), st.integers(1, 4)
    ),
    st.tuples(st.just("delete"), st.sampled_from(PROMPTS), st.sampled_from(LABELS)),
    st.tuples(st.just("rollback"), st.sampled_from(PROMPTS), st.sampled_from(LABELS)),
    st.tuples(
        st.just("start"), st.sampled_from(PROMPTS), st.sampled_from(LABELS), st.integers(1, 4)
    ),
    st.tuples(
        st.just("act"),
        st.sampled_from(PROMPTS),
        st.sampled_from(["advance", "pause", "resume", "promote", "rollback", "abort"]),
    ),
    st.tuples(st.just("archive"), st.sampled_from(PROMPTS)),
    st.tuples(st.just("unarchive"), st.sampled_from(PROMPTS)),
)


def run(ctx: Context, project: str, op: tuple[Any, ...]) -> None:
    """One service write; refusals (conflicts, missing labels...) are part of the sequence."""
    kind, prompt = op[0], op[1]
    with contextlib.suppress(PromptstageError):
        if kind == "create":
            svc.create_prompt(ctx, ACTOR, project, prompt, "text")
        elif kind == "write":
            text = f"Hello {{{{ name }}}}, take {op[2]}"
            svc.write_version(
                ctx, ACTOR, project, prompt, template=text, variables=[{"name": "name"}],
                config=CONFIG,
            )  # fmt: skip
        elif kind == "move":
            labels.move_label(ctx, ACTOR, project, prompt, op[2], op[3])
        elif kind == "delete":
            labels.delete_label(ctx, ACTOR, project, prompt, op[2])
        elif kind == "rollback":
            labels.rollback_label(ctx, ACTOR, project, prompt, op[2])
        elif kind == "start":
            releases.start_release(
                ctx, ACTOR, project, prompt=prompt, label=op[2], candidate_version=op[3],
                strategy="ramp",
            )  # fmt: skip
        elif kind == "act":
            for r in releases.active_for_prompt(ctx, project, prompt)[:1]:
                releases.act(ctx, ACTOR, project, r.id, op[2])
        elif kind == "archive":
            prompt_lifecycle.archive_prompt(ctx, ACTOR, project, prompt)
        else:
            prompt_lifecycle.unarchive_prompt(ctx, ACTOR, project, prompt)


def assert_equal(got: ProjectState, want: ProjectState, exact_bytes: bool) -> None:
    assert (got.seq, got.etag) == (want.seq, want.etag)
    if exact_bytes:
        assert got.body == want.body
    else:
        # Postgres JSON keeps the text as written and the events' copy may spell keys in
        # another order: the same JSON, not always the same bytes.
        assert json.loads(got.body) == json.loads(want.body)
    assert sorted(got.prompts) == sorted(want.prompts)
    for name in want.prompts:
        g, w = got.prompts[name], want.prompts[name]
        assert (g.type, g.labels) == (w.type, w.labels)
        assert {n: version_json(v) for n, v in g.versions.items()} == {
            n: version_json(v) for n, v in w.versions.items()
        }
        assert {k: json.loads(t) for k, t in g.release_json.items()} == {
            k: json.loads(t) for k, t in w.release_json.items()
        }
        assert {k: (r.id, r.state, r.weight_bps) for k, r in g.releases.items()} == {
            k: (r.id, r.state, r.weight_bps) for k, r in w.releases.items()
        }


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    path: Path = tmp_path_factory.mktemp("property") / "promptstage.db"
    opened = SqlStore.from_url(f"sqlite:///{path}", migrate=True)
    yield opened
    opened.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25), batch=st.integers(1, 5))
def test_incremental_state_equals_a_rebuild_after_any_writes(
    sqlite_store: SqlStore, ops: list[tuple[Any, ...]], batch: int
) -> None:
    ctx = Context(store=sqlite_store, bus=EventBus(), clock=utc_now)
    project = f"p-{uuid.uuid4().hex[:12]}"
    svc.create_project(ctx, ACTOR, project, "property")
    state = build_state(ctx, project)
    cache = StateCache(ctx, check_seconds=0.0)
    cache.get(project)
    for i, op in enumerate(ops):
        run(ctx, project, op)
        if (i + 1) % batch and i + 1 < len(ops):
            continue  # several writes, then their events in one batch
        with ctx.store.unit_of_work() as uow:
            events = uow.events_since(project, state.seq, limit=MAX_DELTA_EVENTS + 1)
        if not events:
            continue
        before_body, before_labels = state.body, state.labels
        moved = apply_events(state, events)
        unarchived = any(e.type == "prompt.unarchived" for e in events)
        # Only an unarchive needs the store (the prompt's versions are in no event).
        assert (moved is None) == unarchived, [e.type for e in events]
        rebuilt = build_state(ctx, project)
        if moved is not None:
            assert_equal(moved, rebuilt, exact_bytes=True)
            # The state replaced is untouched (readers may still hold it).
            assert state.body == before_body and state.labels == before_labels
        assert_equal(cache.get(project), rebuilt, exact_bytes=True)
        state = rebuilt if moved is None else moved


@pytest.mark.postgres
def test_incremental_state_equals_a_rebuild_on_postgres(
    service_postgres_url: str, project: str
) -> None:
    """The same on Postgres, one fixed long sequence (a database round trip per write)."""
    store = SqlStore.from_url(service_postgres_url, migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus(), clock=utc_now)
        svc.create_project(ctx, ACTOR, project, "property")
        state = build_state(ctx, project)
        walk = [
            ("create", "alpha"), ("create", "beta"), ("write", "alpha", 1), ("write", "alpha", 2),
            ("write", "beta", 1), ("move", "alpha", "prod", 1), ("start", "alpha", "prod", 2),
            ("act", "alpha", "advance"), ("act", "alpha", "pause"), ("move", "beta", "prod", 1),
            ("delete", "beta", "prod"), ("archive", "beta"), ("act", "alpha", "abort"),
            ("rollback", "alpha", "prod"), ("write", "alpha", 3), ("move", "alpha", "staging", 3),
        ]  # fmt: skip
        applied = 0
        for op in walk:
            run(ctx, project, op)
            with ctx.store.unit_of_work() as uow:
                events = uow.events_since(project, state.seq, limit=MAX_DELTA_EVENTS + 1)
            if not events:
                continue  # refused (a conflict, a missing version): nothing to apply
            moved = apply_events(state, events)
            assert moved is not None, [e.type for e in events]
            assert_equal(moved, build_state(ctx, project), exact_bytes=False)
            state = moved
            applied += 1
        assert applied >= 12, "most of the walk changes the project"
    finally:
        store.close()


def test_a_move_copies_one_shard_and_shares_the_rest(ctx: Context, project: str) -> None:
    svc.create_project(ctx, ACTOR, project, "sharing")
    for i in range(40):
        name = f"p{i:02d}"
        svc.create_prompt(ctx, ACTOR, project, name, "text")
        svc.write_version(ctx, ACTOR, project, name, template=f"t{i}", config=CONFIG)
    old = build_state(ctx, project)
    _ = old.body
    labels.move_label(ctx, ACTOR, project, "p07", "prod", 1)
    with ctx.store.unit_of_work() as uow:
        new = apply_events(old, uow.events_since(project, old.seq, limit=10))
    assert new is not None and new.prompts["p07"].labels == {"latest": 1, "prod": 1}
    changed = [
        i
        for i, (a, b) in enumerate(zip(old.prompts._shards, new.prompts._shards, strict=True))
        if a is not b
    ]
    assert changed == [hash("p07") % len(old.prompts._shards)]
    assert all(new.prompts[n] is old.prompts[n] for n in old.prompts if n != "p07")
    assert new.names is old.names  # no prompt added: the sorted names are reused


@settings(max_examples=300, deadline=None)
@given(
    start=st.dictionaries(st.integers(-50, 50), st.integers()),
    changes=st.lists(st.tuples(st.booleans(), st.integers(-50, 50), st.integers())),
)
def test_shard_map_behaves_like_a_dict_and_never_changes(
    start: dict[int, int], changes: list[tuple[bool, int, int]]
) -> None:
    base = ShardMap(start.items())
    evolver, want = base.evolve(), dict(start)
    for put, key, value in changes:
        if put:
            evolver.set(key, value)
            want[key] = value
        else:
            evolver.remove(key)
            want.pop(key, None)
    got = evolver.finish()
    assert dict(got.items()) == want and len(got) == len(want)
    assert all(got.get(k) == v and k in got for k, v in want.items())
    assert dict(base.items()) == start and len(base) == len(start)


def test_version_text_is_the_version_json(ctx: Context, project: str) -> None:
    svc.create_project(ctx, ACTOR, project, "text")
    svc.create_prompt(ctx, ACTOR, project, "alpha", "chat")
    svc.write_version(
        ctx, ACTOR, project, "alpha", template=[{"role": "system", "content": "Hi \u00e9 \"x\""}],
        config=CONFIG, message="m\n\u2603",
    )  # fmt: skip
    (v,) = build_state(ctx, project).prompts["alpha"].versions.values()
    assert version_text(v) == dumps(version_json(v))


def test_a_404_in_a_large_project_compares_with_nearby_names_only() -> None:
    """Suggesting a name costs bounded CPU: against 100,000 names difflib takes seconds."""
    names = [f"agent{i:05d}.system" for i in range(50_000)]
    state = ProjectState(
        seq=1,
        etag='"1"',
        project="big",
        prompts=ShardMap((n, make_prompt_state(n, "text", {}, {}, {}, {})) for n in names),
        checked_at=0.0,
    )
    t0 = time.process_time()
    with pytest.raises(NotFoundError, match=r"did you mean agent12345\.system"):
        resolve_label(state, "agent12345.sytem", "prod", None, {})
    assert time.process_time() - t0 < 0.5
