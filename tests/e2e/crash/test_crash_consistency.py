"""A process killed mid-change leaves label, history, release, audit and events in agreement
(security.md threat 14, fault test 11): all of the change or none of it, on both backends.

A child process (``crash_child.py``) makes one change through the service layer and
``os._exit(137)``s at a named fault point; the parent then reopens the database and checks.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from promptstage.domain.audit import Anchor, verify_chain
from promptstage.service import labels, prompts, releases
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.tables import metadata

CHILD = Path(__file__).resolve().parent / "crash_child.py"
KILLED = 137
PROJECT, PROMPT, LABEL = "clinic", "greet", "prod"
MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}

# Where a label move can die: after the label row, its history row, its audit row, its event,
# just before the commit, and just after it (then everything must be there).
MOVE_POINTS = ["set_label", "add_label_move", "append_audit", "append_event", "commit"]
# A release promote writes the release row, its history, its audit row and event, then moves
# the label (label row, history, audit, event): die between any two of those.
PROMOTE_POINTS = [
    "update_release", "add_release_change", "append_audit", "append_event", "set_label",
    "append_audit:2", "append_event:2", "commit",
]  # fmt: skip


@pytest.fixture(scope="session")
def crash_postgres_url(postgres_url: str) -> str:
    """The session's shared Postgres database, migrated (emptied before each test)."""
    upgrade_database(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'promptstage.db'}"
    found: str = request.getfixturevalue("crash_postgres_url")
    names = ", ".join(table.name for table in metadata.sorted_tables)
    engine = create_engine(found, poolclass=NullPool)
    with engine.begin() as connection:  # TRUNCATE: the audit trigger guards rows only
        connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()
    return found


@pytest.fixture
def ctx(url: str) -> Iterator[Context]:
    """A project whose ``greet`` prompt has versions 1-2 and ``prod`` at version 1."""
    store = SqlStore.from_url(url, migrate=True)
    context = Context(store=store, bus=EventBus())
    prompts.create_project(context, "key:setup", PROJECT)
    prompts.create_prompt(context, "key:setup", PROJECT, PROMPT, "text")
    for n in (1, 2):
        prompts.write_version(context, "key:setup", PROJECT, PROMPT,
                              template=f"Hello #{n}", config={"model": MODEL})  # fmt: skip
    labels.move_label(context, "key:setup", PROJECT, PROMPT, LABEL, 1)
    yield context
    store.close()


def _crash(url: str, action: str, point: str) -> int:
    done = subprocess.run(
        [sys.executable, str(CHILD), url, action, point], capture_output=True, text=True, timeout=60
    )
    assert done.returncode in (0, KILLED), done.stderr[-3000:]
    return done.returncode


def _state(store: SqlStore) -> dict[str, Any]:
    """Everything a change touches, read raw from the tables."""
    queries = {
        "labels": "SELECT prompt, label, version FROM labels ORDER BY prompt, label",
        "history": "SELECT label, version, previous, kind FROM label_moves ORDER BY id",
        "audit": "SELECT seq, action, target, hash FROM audit ORDER BY seq",
        "events": "SELECT seq, type FROM events ORDER BY seq",
        "releases": "SELECT id, state, weight_bps FROM releases ORDER BY id",
        "release_history": "SELECT release_id, action, to_state FROM release_history ORDER BY id",
        "counters": "SELECT audit_seq, event_seq, audit_head FROM projects ORDER BY name",
    }
    with store.engine.connect() as connection:
        return {k: [tuple(r) for r in connection.execute(text(q))] for k, q in queries.items()}


def _assert_consistent(store: SqlStore) -> None:
    """The chain verifies, counters match rows, and every label move has its audit row and
    event (no orphans either way)."""
    state = _state(store)
    with store.unit_of_work() as uow:
        seq, head = uow.audit_head(PROJECT)
        report = verify_chain(uow.iter_audit(PROJECT), recorded=Anchor(seq, head))
    assert report.ok, report
    ((audit_seq, event_seq, _),) = state["counters"]
    assert audit_seq == len(state["audit"]) and event_seq == len(state["events"])
    moves = len(state["history"])
    assert moves == sum(1 for row in state["audit"] if row[1].startswith("label."))
    assert moves == sum(1 for row in state["events"] if row[1] in ("label.moved", "label.deleted"))
    changes = len(state["release_history"])
    assert changes == sum(1 for row in state["audit"] if row[1].startswith("release."))
    assert changes == sum(1 for row in state["events"] if row[1] == "release.changed")
    labels_now = {(p, label): v for p, label, v in state["labels"]}
    last_move = {}
    for label, version, _, _ in state["history"]:
        last_move[label] = version
    assert {label: v for (_, label), v in labels_now.items()} == last_move


def _check_crash(
    ctx: Context, url: str, action: str, point: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    before = _state(ctx.store)
    assert _crash(url, action, point) == KILLED
    after = _state(ctx.store)
    _assert_consistent(ctx.store)
    return before, after


@pytest.mark.parametrize("point", MOVE_POINTS)
def test_label_move_killed_before_commit_leaves_nothing(ctx: Context, url: str, point: str) -> None:
    before, after = _check_crash(ctx, url, "move", point)
    assert after == before
    # The database is not wedged: the same move now succeeds and chains on.
    assert labels.move_label(ctx, "key:retry", PROJECT, PROMPT, LABEL, 2) is not None
    _assert_consistent(ctx.store)
    assert len(_state(ctx.store)["audit"]) == len(before["audit"]) + 1


def test_label_move_killed_after_commit_keeps_all_of_it(ctx: Context, url: str) -> None:
    before, after = _check_crash(ctx, url, "move", "published")
    assert ("greet", "prod", 2) in after["labels"]
    assert len(after["audit"]) == len(before["audit"]) + 1
    assert len(after["events"]) == len(before["events"]) + 1
    assert after["history"][-1] == ("prod", 2, 1, "move")


@pytest.fixture
def release(ctx: Context) -> str:
    """A running ramp release of ``prod`` from version 1 to 2."""
    started = releases.start_release(
        ctx, "key:setup", PROJECT, prompt=PROMPT, label=LABEL, candidate_version=2,
        strategy="ramp", auto_rollback=False,
    )  # fmt: skip
    return started.id


@pytest.mark.parametrize("point", PROMOTE_POINTS)
def test_release_promote_killed_mid_transition_leaves_nothing(
    ctx: Context, url: str, release: str, point: str
) -> None:
    before, after = _check_crash(ctx, url, "promote", point)
    assert after == before
    (row,) = after["releases"]
    assert row[1] == "running" and ("greet", "prod", 1) in after["labels"]
    done = releases.act(ctx, "key:retry", PROJECT, release, "promote", "retry")
    assert done.state == "completed"
    _assert_consistent(ctx.store)


def test_release_promote_killed_after_commit_keeps_all_of_it(
    ctx: Context, url: str, release: str
) -> None:
    before, after = _check_crash(ctx, url, "promote", "published")
    assert after["releases"][0][1] == "completed" and ("greet", "prod", 2) in after["labels"]
    assert len(after["audit"]) == len(before["audit"]) + 2  # release.promote + label.move
