"""Filtering the audit trail (actor, action, prompt, time) on SQLite and Postgres, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promptstage.domain.audit import AuditFilter
from promptstage.errors import InvalidInputError
from promptstage.service import audit, change_requests, labels, prompts, releases
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CONFIG = {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}}


class Minutes:
    """A clock that moves one minute per reading."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def _seed(store: SqlStore, project: str) -> Context:
    """Two prompts (``a_b`` with a LIKE wildcard in its name, and ``axb``), versions, label
    moves by two people, a release and a change request of ``a_b``."""
    ctx = Context(store=store, bus=EventBus(), clock=Minutes())
    prompts.create_project(ctx, "system:test", project)
    for name in ("a_b", "axb"):
        prompts.create_prompt(ctx, "alice (ui)", project, name, "text")
        for n in (1, 2):
            prompts.write_version(
                ctx, "alice (key:abc123)", project, name, template=f"v{n}", config=CONFIG
            )
        labels.move_label(ctx, "bob (ui)", project, name, "staging", 1, reason="try")
    releases.start_release(
        ctx, "bob (ui)", project, prompt="a_b", label="staging", candidate_version=2,
        strategy="canary",
    )  # fmt: skip
    change_requests.open_label_move(
        ctx, "alice (ui)", project, "a_b", "prod", 1, expected_version=None,
        expect_absent=True, reason="ship", ttl=timedelta(hours=1),
    )  # fmt: skip
    return ctx


def _all(ctx: Context, project: str, where: AuditFilter, limit: int = 2) -> list[tuple[str, str]]:
    """Every matching row, read ``limit`` at a time: ``(actor, action or target)``."""
    found, cursor = [], None
    while True:
        rows, cursor = audit.list_audit(ctx, project, limit, cursor, where)
        found.extend(rows)
        if cursor is None:
            break
    assert [r.seq for r in found] == sorted((r.seq for r in found), reverse=True)
    return [(r.actor, r.target) for r in found]


def test_filters_by_actor_name_covers_every_actor_of_that_person(
    store: SqlStore, project: str
) -> None:
    ctx = _seed(store, project)
    alice = _all(ctx, project, AuditFilter(actor="alice"))
    assert {a for a, _ in alice} == {"alice (ui)", "alice (key:abc123)"}
    assert len(alice) == 2 + 4 + 1  # prompts, versions, change request
    exact = _all(ctx, project, AuditFilter(actor="alice (ui)"))
    assert {a for a, _ in exact} == {"alice (ui)"}
    assert _all(ctx, project, AuditFilter(actor="ali")) == []  # a name, not a prefix


def test_filters_by_action(store: SqlStore, project: str) -> None:
    ctx = _seed(store, project)
    moves = _all(ctx, project, AuditFilter(action="label.move"))
    assert sorted(t for _, t in moves) == ["label:a_b/staging", "label:axb/staging"]


def test_an_unknown_action_is_refused_naming_the_field(store: SqlStore, project: str) -> None:
    ctx = _seed(store, project)
    with pytest.raises(InvalidInputError) as caught:
        audit.list_audit(ctx, project, where=AuditFilter(action="label.teleport"))
    assert caught.value.field == "action"


def test_filters_by_prompt_with_its_releases_and_requests_and_no_lookalike(
    store: SqlStore, project: str
) -> None:
    ctx = _seed(store, project)
    targets = [t for _, t in _all(ctx, project, AuditFilter(prompt="a_b"))]
    kinds = sorted(t.split(":")[0] for t in targets)
    # the prompt, its 2 versions, the move, the release, the change request
    assert kinds == sorted(["prompt", "prompt", "prompt", "label", "release", "change_request"])
    assert not [t for t in targets if "axb" in t]  # '_' is no wildcard
    other = [t for _, t in _all(ctx, project, AuditFilter(prompt="axb"))]
    assert sorted(other) == ["label:axb/staging", "prompt:axb", "prompt:axb@1", "prompt:axb@2"]


def test_filters_by_time_range_half_open(store: SqlStore, project: str) -> None:
    ctx = _seed(store, project)
    rows, _ = audit.list_audit(ctx, project, limit=500)
    third = sorted(rows, key=lambda r: r.seq)[2]
    window = AuditFilter(since=third.at, until=third.at + timedelta(minutes=2))
    found, _ = audit.list_audit(ctx, project, 500, None, window)
    assert [r.seq for r in found] == [third.seq + 1, third.seq]
    naive = AuditFilter(since=third.at.replace(tzinfo=None))  # a bare time means UTC
    assert audit.list_audit(ctx, project, 500, None, naive)[0][-1].seq == third.seq


def test_until_before_since_is_refused(store: SqlStore, project: str) -> None:
    ctx = _seed(store, project)
    with pytest.raises(InvalidInputError) as caught:
        audit.list_audit(ctx, project, where=AuditFilter(since=START, until=START))
    assert caught.value.field == "until"


def test_filters_combine(store: SqlStore, project: str) -> None:
    ctx = _seed(store, project)
    both = _all(ctx, project, AuditFilter(actor="bob", prompt="axb"))
    assert both == [("bob (ui)", "label:axb/staging")]
