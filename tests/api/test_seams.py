"""``create_app(gate=..., tracer=...)``: the seams a deployment plugs in reach the promotion
door and the write transactions of the running app, and the defaults change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from promptstage.errors import PermissionDeniedError
from promptstage.server import create_app
from promptstage.service.gate import Candidate
from promptstage.settings import Settings
from promptstage.store.base import UnitOfWork
from promptstage.store.sql import SqlStore

from .client import ADMIN_KEY, BASE, Api, Seeded

LABELS = f"{BASE}/{Seeded.project}/prompts/greet/labels"


class NotEvaluated:
    def check(self, uow: UnitOfWork, candidate: Candidate) -> None:
        raise PermissionDeniedError(
            f"version {candidate.version.number} has no passing evaluation", field="version"
        )


class Spans:
    def __init__(self) -> None:
        self.names: list[tuple[str, dict[str, object]]] = []

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, object]) -> Iterator[None]:
        self.names.append((name, dict(attributes)))
        yield


def test_the_gate_and_tracer_reach_the_door(
    seeded: Seeded, make_store: Callable[[], SqlStore], runner: asyncio.Runner
) -> None:
    spans = Spans()
    app = create_app(
        Settings(admin_key=ADMIN_KEY, state_check_seconds=0.0),
        store=make_store(),
        gate=NotEvaluated(),
        tracer=spans,
    )
    api = Api(runner, app, ADMIN_KEY)
    refused = api.put(f"{LABELS}/staging", json={"version": 1})
    assert refused.status_code == 403, refused.text
    assert "no passing evaluation" in refused.text
    assert api.get(f"{BASE}/{Seeded.project}/prompts/greet").json()["labels"]["staging"] == 3
    back = api.post(f"{LABELS}/prod/rollback")  # a rollback is never gated
    assert back.status_code == 200, back.text
    names = [name for name, _ in spans.names]
    assert names.count("promptstage.promote") == 1 and "promptstage.change" in names
    promote = dict(spans.names)["promptstage.promote"]
    assert promote == {
        "promptstage.project": "acme",
        "promptstage.prompt": "greet",
        "promptstage.label": "staging",
        "promptstage.version": 1,
        "promptstage.path": "label.move",
    }
    rollback = dict(spans.names)["promptstage.label.move"]  # ungated, but traced
    assert rollback["promptstage.move"] == "rollback"
    assert rollback["promptstage.label"] == "prod"


def test_by_default_every_candidate_passes(seeded: Seeded) -> None:
    moved = seeded.admin.put(f"{LABELS}/staging", json={"version": 1})
    assert moved.status_code == 200 and moved.json()["changed"] is True
