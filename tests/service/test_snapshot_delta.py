"""The snapshot state brought forward by events equals a full rebuild.

A randomized walk (fixed seeds, so failures reproduce) of service operations: create prompts,
write versions, move, delete and roll back labels, start releases and act on them. After each
operation the cached state, brought forward with ``apply_events``, must equal ``build_state``:
the parsed body and the labels, versions and releases maps.
"""

from __future__ import annotations

import contextlib
import json
import random
from typing import Any

import pytest

from promptstage.domain.models import Event
from promptstage.domain.wire import version_json
from promptstage.errors import PromptstageError
from promptstage.service import labels, releases, snapshot
from promptstage.service import prompts as svc
from promptstage.service.context import Context
from promptstage.service.snapshot import ProjectState, StateCache, build_state
from promptstage.service.snapshot_delta import MAX_DELTA_EVENTS, apply_events

ACTOR = "user:delta"
PROMPTS = ("alpha", "beta", "gamma")
LABELS = ("prod", "staging", "beta")
CONFIG = {"model": {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"}}


def events_after(ctx: Context, project: str, seq: int) -> list[Event]:
    with ctx.store.unit_of_work() as uow:
        return uow.events_since(project, seq, limit=MAX_DELTA_EVENTS + 1)


def assert_same(got: ProjectState, want: ProjectState) -> None:
    assert got.seq == want.seq and got.etag == want.etag
    assert json.loads(got.body) == json.loads(want.body)
    # Not the bytes: Postgres JSONB returns object keys in its own order, which differs between
    # the events' copy of a version and the versions table's (same JSON, other spelling).
    assert got.types == want.types
    assert got.labels == want.labels
    assert {k: version_json(v) for k, v in got.versions.items()} == {
        k: version_json(v) for k, v in want.versions.items()
    }
    assert got.releases.keys() == want.releases.keys()
    for key, r in got.releases.items():
        w = want.releases[key]
        assert (r.id, r.state, r.weight_bps, r.baseline_version, r.candidate_version, r.salt) == (
            w.id,
            w.state,
            w.weight_bps,
            w.baseline_version,
            w.candidate_version,
            w.salt,
        )


def random_operation(ctx: Context, project: str, rng: random.Random) -> None:
    """One random service call; refusals (conflicts, missing labels...) are part of the walk."""
    prompt = rng.choice(PROMPTS)
    label = rng.choice(LABELS)
    version = rng.randint(1, 4)
    ops = ["write", "write", "move", "move", "move", "delete", "rollback", "start", "start"]
    op = rng.choice([*ops, "act", "act", "act", "create"])
    if op == "create":
        svc.create_prompt(ctx, ACTOR, project, prompt, "text")
    elif op == "write":
        # A small pool of texts, so some writes repeat a digest and emit no event.
        text = f"Hello {{{{ name }}}}, take {rng.randint(1, 5)}"
        svc.write_version(
            ctx, ACTOR, project, prompt, template=text, variables=[{"name": "name"}], config=CONFIG
        )
    elif op == "move":
        labels.move_label(ctx, ACTOR, project, prompt, label, version)
    elif op == "delete":
        labels.delete_label(ctx, ACTOR, project, prompt, label)
    elif op == "rollback":
        to = version if rng.random() < 0.5 else None
        labels.rollback_label(ctx, ACTOR, project, prompt, label, to_version=to)
    elif op == "start":
        releases.start_release(
            ctx,
            ACTOR,
            project,
            prompt=prompt,
            label=label,
            candidate_version=version,
            strategy="ramp",
        )
    else:
        active = releases.active_for_prompt(ctx, project, prompt)
        if active:
            action = rng.choice(["advance", "pause", "resume", "promote", "rollback", "abort"])
            releases.act(ctx, ACTOR, project, rng.choice(active).id, action)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_state_brought_forward_by_events_equals_a_rebuild(
    ctx: Context, project: str, seed: int
) -> None:
    rng = random.Random(seed)
    svc.create_project(ctx, ACTOR, project, "delta walk")
    state = build_state(ctx, project)
    lagging = state  # brought forward every 7 operations: several events in one batch
    applied = 0
    for step in range(200):
        before, before_labels = state, dict(state.labels)
        before_prompts = {k: dict(v) for k, v in state.prompt_labels.items()}
        with contextlib.suppress(PromptstageError):
            random_operation(ctx, project, rng)
        events = events_after(ctx, project, state.seq)
        if not events:
            continue
        moved = apply_events(state, events)
        assert moved is not None, [e.type for e in events]
        applied += 1
        state = moved
        assert_same(state, build_state(ctx, project))
        # The state that was replaced is untouched: readers may still hold it.
        assert before.labels == before_labels and before.prompt_labels == before_prompts
        if step % 7 == 6 and lagging.seq != state.seq:
            caught_up = apply_events(lagging, events_after(ctx, project, lagging.seq))
            assert caught_up is not None
            assert_same(caught_up, state)
            lagging = caught_up
    assert applied > 25, "the walk should change the project often"


def test_old_state_is_not_modified(ctx: Context, project: str) -> None:
    svc.create_project(ctx, ACTOR, project, "copy on write")
    svc.create_prompt(ctx, ACTOR, project, "alpha", "text")
    for n in (1, 2):
        svc.write_version(ctx, ACTOR, project, "alpha", template=f"t{n}", config=CONFIG)
    labels.move_label(ctx, ACTOR, project, "alpha", "prod", 1)
    old = build_state(ctx, project)
    old_body = old.body
    old_labels, old_versions = dict(old.labels), dict(old.versions)
    old_prompt_labels = {k: dict(v) for k, v in old.prompt_labels.items()}
    labels.move_label(ctx, ACTOR, project, "alpha", "prod", 2)
    new = apply_events(old, events_after(ctx, project, old.seq))
    assert new is not None and new.labels[("alpha", "prod")] == 2
    assert ("alpha", 1) not in new.versions  # nothing points at version 1 any more
    assert old.body == old_body and old.labels == old_labels and old.versions == old_versions
    assert old.prompt_labels == old_prompt_labels
    assert_same(new, build_state(ctx, project))


def test_compiled_templates_are_kept_for_unchanged_versions(ctx: Context, project: str) -> None:
    svc.create_project(ctx, ACTOR, project, "compiled")
    for name in ("alpha", "beta"):
        svc.create_prompt(ctx, ACTOR, project, name, "text")
        svc.write_version(ctx, ACTOR, project, name, template=f"{name} 1", config=CONFIG)
    old = build_state(ctx, project)
    compiled = old.template("alpha", 1)
    svc.write_version(ctx, ACTOR, project, "beta", template="beta 2", config=CONFIG)
    new = apply_events(old, events_after(ctx, project, old.seq))
    assert new is not None
    assert new.template("alpha", 1) is compiled
    assert ("beta", 1) not in new.versions and ("beta", 1) not in new.compiled


def event(seq: int, type_: str, data: dict[str, Any]) -> Event:
    return Event(project="p", seq=seq, type=type_, data=data, at=None)  # type: ignore[arg-type]


def test_falls_back_on_a_gap_an_unknown_type_bad_data_or_too_many(
    ctx: Context, project: str
) -> None:
    svc.create_project(ctx, ACTOR, project, "fallbacks")
    state = build_state(ctx, project)
    s = state.seq
    assert apply_events(state, []) is None
    assert (
        apply_events(state, [event(s + 2, "prompt.created", {"prompt": "a", "type": "text"})])
        is None
    )
    assert apply_events(state, [event(s + 1, "prompt.renamed", {"prompt": "a"})]) is None
    assert apply_events(state, [event(s + 1, "label.moved", {"prompt": "nope"})]) is None
    assert apply_events(state, [event(s + 1, "version.created", {"prompt": "a"})]) is None
    many = [event(s + 1 + i, "key.revoked", {"prefix": "x"}) for i in range(MAX_DELTA_EVENTS + 1)]
    assert apply_events(state, many) is None
    ignored = apply_events(state, [event(s + 1, "key.revoked", {"prefix": "x"})])
    assert ignored is not None and ignored.seq == s + 1 and ignored.etag == f'"{s + 1}"'


def test_cache_brings_state_forward_without_rebuilding(
    ctx: Context, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc.create_project(ctx, ACTOR, project, "cache")
    svc.create_prompt(ctx, ACTOR, project, "alpha", "text")
    svc.write_version(ctx, ACTOR, project, "alpha", template="one", config=CONFIG)
    cache = StateCache(ctx, check_seconds=0.0)
    first = cache.get(project)
    builds: list[str] = []
    real = snapshot.build_state

    def counting(c: Context, p: str) -> ProjectState:
        builds.append(p)
        return real(c, p)

    monkeypatch.setattr(snapshot, "build_state", counting)
    labels.move_label(ctx, ACTOR, project, "alpha", "prod", 1)
    second = cache.get(project)
    assert builds == [] and second is not first and second.seq == first.seq + 1
    assert_same(second, real(ctx, project))
    assert cache.get(project) is second  # nothing moved: the same state
