"""A ``deps.drift`` webhook event per new mismatch, exactly once, even when the process stops
between storing a batch and announcing it (service/deps_drift.py), on SQLite and Postgres."""

from __future__ import annotations

from typing import Any

import pytest

from promptstage.domain.calls import parse_call
from promptstage.domain.events import EventType
from promptstage.service import calls, deps, deps_drift, labels, prompts
from promptstage.service.context import Context

GPT = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


def _setup(ctx: Context, project: str) -> dict[str, Any]:
    prompts.create_project(ctx, "ana", project)
    deps.register(ctx, "ana", project, "model", "openai/gpt-4o", "2024-08-06")
    prompts.create_prompt(ctx, "ana", project, "agent", "text")
    version, _ = prompts.write_version(
        ctx, "ana", project, "agent", template="Hi", config={"model": GPT}
    )
    labels.move_label(ctx, "ana", project, "agent", "staging", version.number)
    return {"prompt": "agent", "label": "staging", "version": 1, "digest": version.digest}


def _drift_events(ctx: Context, project: str) -> list[dict[str, Any]]:
    with ctx.store.unit_of_work() as uow:
        events = uow.events_since(project, 0, limit=1000)
    return [dict(e.data) for e in events if e.type == EventType.DEPS_DRIFT]


def _batch(project: str, call: dict[str, Any], *ids: str) -> dict[str, Any]:
    """Calls reporting a model the version did not pin (call ids are unique in the store)."""
    return {"calls": [{**call, "id": f"{project}-{i}", "model": "gpt-4o-2024-11-20"} for i in ids]}


def test_a_new_mismatch_is_announced_once(ctx: Context, project: str) -> None:
    call = _setup(ctx, project)
    calls.ingest_calls(ctx, project, _batch(project, call, "a", "b"))
    calls.ingest_calls(ctx, project, _batch(project, call, "c"))
    assert [e["observed"] for e in _drift_events(ctx, project)] == ["gpt-4o-2024-11-20"]
    assert deps_drift.announce_missed(ctx) == 0, "nothing was left to announce"
    assert len(_drift_events(ctx, project)) == 1


def test_a_batch_stored_but_not_announced_is_announced_by_the_next_pass(
    ctx: Context, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch commits, then the process stops before the announcement's own transaction."""
    call = _setup(ctx, project)

    def stopped(*args: Any) -> None:
        raise SystemExit("the process stopped here")

    monkeypatch.setattr(calls, "announce", stopped)
    with pytest.raises(SystemExit):
        calls.ingest_calls(ctx, project, _batch(project, call, "a"))
    monkeypatch.undo()
    assert _drift_events(ctx, project) == []
    calls.ingest_calls(
        ctx, project, _batch(project, call, "b")
    )  # not new any more: no announcement
    assert _drift_events(ctx, project) == []
    assert deps_drift.announce_missed(ctx) == 1
    (event,) = _drift_events(ctx, project)
    assert (event["prompt"], event["label"], event["kind"]) == ("agent", "staging", "model")
    assert event["observed"] == "gpt-4o-2024-11-20"
    assert deps_drift.announce_missed(ctx) == 0
    assert len(_drift_events(ctx, project)) == 1


def test_two_announcers_of_one_mismatch_write_one_event(ctx: Context, project: str) -> None:
    """The batch's own announcement and a pass that found the mismatch first: one claims it."""
    call = _setup(ctx, project)
    records = [parse_call(_batch(project, call, "a")["calls"][0], "calls[0]", ctx.clock())]
    with ctx.store.unit_of_work(write=True) as uow:
        uow.add_calls(project, records)
        new = deps_drift.count_in(uow, project, records)
    assert len(new) == 1
    assert deps_drift.announce_missed(ctx) == 1
    deps_drift.announce(ctx, project, new)  # late: already announced
    assert len(_drift_events(ctx, project)) == 1
