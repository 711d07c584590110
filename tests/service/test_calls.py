"""The call log's retention: only calls (and scores) older than the window go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promptstage.domain.calls import CallFilter
from promptstage.errors import InvalidInputError
from promptstage.service import calls, prompts
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _call(call_id: str, at: datetime) -> dict[str, object]:
    return {
        "id": call_id,
        "at": at.isoformat(),
        "prompt": "greet",
        "label": "prod",
        "version": 1,
        "digest": "sha256:" + "0" * 64,
    }


def test_retention_removes_only_calls_older_than_the_window(store: SqlStore, project: str) -> None:
    ctx = Context(store=store, bus=EventBus(), clock=lambda: NOW)
    prompts.create_project(ctx, "test", project)
    calls.ingest_calls(
        ctx,
        project,
        {
            "calls": [
                _call("old", NOW - timedelta(days=31)),
                _call("recent", NOW - timedelta(days=29)),
            ]
        },
    )
    calls.ingest_scores(
        ctx,
        project,
        {
            "scores": [
                {
                    "call_id": "old",
                    "name": "csat",
                    "value": 2,
                    "at": (NOW - timedelta(days=31)).isoformat(),
                },
                {"call_id": "recent", "name": "csat", "value": 5},
            ]
        },
    )
    assert calls.prune_calls(ctx, retention_days=30) == 1
    left, _ = calls.list_calls(ctx, project, CallFilter())
    assert [c.id for c in left] == ["recent"]
    _, _, scores = calls.get_call(ctx, project, "recent")
    assert [s.value for s in scores] == [5.0]
    with store.unit_of_work() as uow:
        assert uow.scores_of(project, "old") == []


def _ingest(ctx: Context, project: str) -> None:
    items = []
    for i in range(6):
        item = _call(f"c{i}", NOW - timedelta(minutes=10 - i))
        item.update(label="prod" if i % 2 else "staging", version=1 + i % 3)
        items.append(item)
    calls.ingest_calls(ctx, project, {"calls": items})


def _ids(ctx: Context, project: str, where: CallFilter) -> list[str]:
    found, cursor = [], None
    while True:
        rows, cursor = calls.list_calls(ctx, project, where, 2, cursor)
        found.extend(c.id for c in rows)
        if cursor is None:
            return found


def test_calls_filter_by_label_and_time_range(store: SqlStore, project: str) -> None:
    ctx = Context(store=store, bus=EventBus(), clock=lambda: NOW)
    prompts.create_project(ctx, "test", project)
    _ingest(ctx, project)
    assert _ids(ctx, project, CallFilter(label="prod")) == ["c5", "c3", "c1"]
    window = CallFilter(since=NOW - timedelta(minutes=9), until=NOW - timedelta(minutes=6))
    assert _ids(ctx, project, window) == ["c3", "c2", "c1"]  # [since, until)
    naive = CallFilter(until=(NOW - timedelta(minutes=8)).replace(tzinfo=None))
    assert _ids(ctx, project, naive) == ["c1", "c0"]
    assert _ids(ctx, project, CallFilter(label="staging", version=3)) == ["c2"]


def test_calls_until_not_after_since_is_refused(store: SqlStore, project: str) -> None:
    ctx = Context(store=store, bus=EventBus(), clock=lambda: NOW)
    prompts.create_project(ctx, "test", project)
    with pytest.raises(InvalidInputError) as caught:
        calls.list_calls(ctx, project, CallFilter(since=NOW, until=NOW - timedelta(seconds=1)))
    assert caught.value.field == "until"
