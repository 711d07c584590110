"""A large state the server keeps is out of the cyclic collector's full passes (issue 16: at
100,000 prompts each full collection held the GIL ~0.6 s, the event loop and every request
waiting), and no garbage stays frozen for good."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from promptstage.service import prompts as svc
from promptstage.service import snapshot
from promptstage.service.context import Context
from promptstage.service.snapshot import StateCache

ACTOR = "user:gc"
CONFIG = {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}}


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Leave the test process as it was: nothing frozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def seed(ctx: Context, project: str, prompts: int) -> None:
    svc.create_project(ctx, ACTOR, project, "gc")
    for i in range(prompts):
        svc.create_prompt(ctx, ACTOR, project, f"p{i}", "text")
        svc.write_version(ctx, ACTOR, project, f"p{i}", template=f"t{i}", config=CONFIG)


def test_a_state_from_the_threshold_up_is_frozen_after_its_build(
    ctx: Context, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(ctx, project, 3)
    monkeypatch.setattr(snapshot, "FREEZE_AT", 4)
    StateCache(ctx, check_seconds=3600).get(project)
    assert gc.get_freeze_count() == 0  # small: left to the collector as it is

    monkeypatch.setattr(snapshot, "FREEZE_AT", 3)
    state = StateCache(ctx, check_seconds=3600).get(project)
    assert gc.get_freeze_count() > 0
    assert state.prompts["p0"] is not None


def test_garbage_an_earlier_freeze_held_is_collected_at_the_next(
    ctx: Context, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(ctx, project, 2)
    monkeypatch.setattr(snapshot, "FREEZE_AT", 1)

    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    StateCache(ctx, check_seconds=3600).get(project)  # frozen along with the state
    del a, b
    gc.collect()
    assert gone() is not None  # frozen: no collection sees it

    StateCache(ctx, check_seconds=3600).get(project)  # the next cold build settles again
    assert gone() is None
