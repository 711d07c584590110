"""The promotion door (service/promotion.py): every path that makes a label serve a new version
goes through it and asks the gate; a rollback does not; nothing else writes what a label serves."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from promptstage.errors import PermissionDeniedError
from promptstage.service import change_requests, controller, labels, releases
from promptstage.service.context import Context
from promptstage.service.gate import Candidate
from promptstage.store.base import UnitOfWork
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, FakeClock, traffic

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

SERVICE = Path(__file__).resolve().parents[2] / "src" / "promptstage" / "service"
APPROVER = "key:approver"
DAY = timedelta(days=1)


@dataclass
class SpyGate:
    """Records every candidate; refuses them all when ``refuse`` is set."""

    refuse: bool = False
    seen: list[Candidate] = field(default_factory=list)

    def check(self, uow: UnitOfWork, candidate: Candidate) -> None:
        self.seen.append(candidate)
        if self.refuse:
            raise PermissionDeniedError("the gate refused it", field="version")


@pytest.fixture
def gate(seeded: Context) -> SpyGate:
    spy = SpyGate()
    seeded.gate = spy
    return spy


def seen(gate: SpyGate) -> list[tuple[Any, ...]]:
    return [
        (c.path, c.prompt, c.label, c.version.number, c.actor, c.change_request is not None)
        for c in gate.seen
    ]


def start(ctx: Context, **overrides: Any) -> Any:
    args = {"prompt": PROMPT, "label": "prod", "candidate_version": 2, "strategy": "canary"}
    return releases.start_release(ctx, USER, PROJECT, **{**args, **overrides})


def prod(ctx: Context) -> int | None:
    with ctx.store.unit_of_work() as uow:
        return uow.get_labels(PROJECT, PROMPT).get("prod")


def test_a_direct_move_asks_the_gate(seeded: Context, gate: SpyGate) -> None:
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
    assert seen(gate) == [("label.move", PROMPT, "prod", 3, USER, False)]


def test_a_move_to_where_the_label_already_points_does_not(seeded: Context, gate: SpyGate) -> None:
    assert labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 1) is None
    assert gate.seen == []


def test_an_approved_move_asks_the_gate_as_the_approver(seeded: Context, gate: SpyGate) -> None:
    opened = change_requests.open_label_move(
        seeded, USER, PROJECT, PROMPT, "prod", 3, expected_version=1, reason=None, ttl=DAY
    )
    assert gate.seen == []  # opening a request promotes nothing
    change_requests.approve(seeded, APPROVER, PROJECT, opened.id)
    assert seen(gate) == [("label.move", PROMPT, "prod", 3, APPROVER, True)]
    assert gate.seen[0].change_request == opened.id


def test_a_release_start_asks_the_gate_about_its_candidate(seeded: Context, gate: SpyGate) -> None:
    r = start(seeded)
    assert seen(gate) == [("release.start", PROMPT, "prod", 2, USER, False)]
    assert gate.seen[0].release_id == r.id


def test_an_approved_release_start_asks_the_gate(seeded: Context, gate: SpyGate) -> None:
    fields = {"prompt": PROMPT, "label": "prod", "candidate_version": 2, "strategy": "canary"}
    opened = change_requests.open_release_start(seeded, USER, PROJECT, fields, ttl=DAY)
    change_requests.approve(seeded, APPROVER, PROJECT, opened.id)
    assert seen(gate) == [("release.start", PROMPT, "prod", 2, APPROVER, True)]


@pytest.mark.parametrize("action", ["promote", "advance"])
def test_a_manual_promotion_asks_the_gate_again(
    seeded: Context, gate: SpyGate, action: str
) -> None:
    r = start(seeded, strategy="ramp", steps=[500, 10000])
    releases.act(seeded, USER, PROJECT, r.id, action)  # advancing into 100 % promotes
    assert [s[0] for s in seen(gate)] == ["release.start", "release.promote"]
    assert gate.seen[1].release_id == r.id and prod(seeded) == 2


def test_the_controller_completing_a_ramp_asks_the_gate(
    seeded: Context, gate: SpyGate, clock: FakeClock
) -> None:
    step = {"weight_bps": 5000, "min_duration_seconds": 3600, "min_units": 100}
    r = start(seeded, strategy="ramp", steps=[step, 10000])
    traffic(seeded, r, units=1000, seed=1)
    clock.advance(3600)
    (outcome,) = controller.run_once(seeded)
    assert outcome.action == "complete", outcome.reason
    assert seen(gate)[-1] == (
        "release.promote",
        PROMPT,
        "prod",
        2,
        controller.CONTROLLER_ACTOR,
        False,
    )


def test_a_refusal_changes_nothing_on_any_path(seeded: Context, gate: SpyGate) -> None:
    r = start(seeded)
    gate.refuse = True
    with seeded.store.unit_of_work() as uow:
        audit_before = len(uow.list_audit(PROJECT, limit=1000, before=None))
    with pytest.raises(PermissionDeniedError):
        releases.act(seeded, USER, PROJECT, r.id, "promote")
    with pytest.raises(PermissionDeniedError):
        labels.move_label(seeded, USER, PROJECT, PROMPT, "staging", 3)
    assert releases.get_release(seeded, PROJECT, r.id)[0].state == "running"
    with seeded.store.unit_of_work() as uow:
        assert uow.get_labels(PROJECT, PROMPT) == {"prod": 1, "staging": 2}
        assert len(uow.list_audit(PROJECT, limit=1000, before=None)) == audit_before


def test_a_rollback_never_asks_the_gate(seeded: Context, gate: SpyGate) -> None:
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
    gate.refuse = True
    gate.seen.clear()
    move = labels.rollback_label(seeded, USER, PROJECT, PROMPT, "prod")
    assert move is not None and (move.version, move.kind) == (1, "rollback")
    assert gate.seen == [] and prod(seeded) == 1


def _calls(tree: ast.AST, names: set[str]) -> list[str]:
    return [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in names
    ]


def test_there_is_no_fourth_door() -> None:
    # Only the door module writes what a label serves: a label pointer or a new release.
    writers = {"set_label", "add_release"}
    found = {
        str(path.relative_to(SERVICE.parent)): _calls(ast.parse(path.read_text()), writers)
        for path in SERVICE.parent.rglob("*.py")
        if "store" not in path.relative_to(SERVICE.parent).parts
    }
    assert {path for path, calls in found.items() if calls} == {"service/promotion.py"}
    # ... and inside it, only the door (and the ungated rollback, for a label) reach them.
    door = ast.parse((SERVICE / "promotion.py").read_text())
    callers: dict[str, set[str]] = {}
    for fn in door.body:
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    callers.setdefault(node.func.id, set()).add(fn.name)
    assert callers["_expose"] == {"promote"}
    assert callers["_move"] == {"promote", "roll_back"}
