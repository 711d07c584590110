"""Fixtures and factories of the release tests.

A service ``Context`` on SQLite and on Postgres with an injected clock, a seeded project, and
synthetic call logs: units are bucketed by the real resolver, so arm sizes behave like
production traffic. Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promptstage.domain.calls import CallRecord, Score
from promptstage.domain.models import Event
from promptstage.domain.releases import Release
from promptstage.domain.wire import release_runtime_json
from promptstage.rollout.resolve import ActiveRelease, resolve
from promptstage.service import labels, prompts
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore, upgrade_database
from promptstage.store.sql.tables import metadata

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
PROJECT = "clinic"
PROMPT = "booking"
USER = "key:releaser"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime = T0) -> None:
        self.now = at

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture(scope="session")
def releases_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("releases-template") / "promptstage.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def releases_postgres_url(make_postgres_database: Callable[[], str]) -> str:
    url = make_postgres_database()
    upgrade_database(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def release_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """An empty, migrated store of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "promptstage.db"
        shutil.copyfile(request.getfixturevalue("releases_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("releases_postgres_url")
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        cleaner = SqlStore.from_url(url)
        with cleaner.engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        cleaner.close()
    store = SqlStore.from_url(url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ctx(release_store: SqlStore, clock: FakeClock) -> Context:
    return Context(store=release_store, bus=EventBus(), clock=clock)


@pytest.fixture
def published(ctx: Context) -> list[Event]:
    """Every event published on the bus (after commit), in order."""
    seen: list[Event] = []
    ctx.bus.subscribe(seen.append)
    return seen


@pytest.fixture
def seeded(ctx: Context) -> Context:
    """Project ``clinic``, text prompt ``booking`` with versions 1-3, ``prod`` -> 1 and
    ``staging`` -> 2."""
    prompts.create_project(ctx, USER, PROJECT)
    prompts.create_prompt(ctx, USER, PROJECT, PROMPT, "text")
    for n in (1, 2, 3):
        prompts.write_version(
            ctx,
            USER,
            PROJECT,
            PROMPT,
            template=f"Book it, v{n}: {{{{ name }}}}",
            config={"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
        )
    labels.move_label(ctx, USER, PROJECT, PROMPT, "prod", 1)
    labels.move_label(ctx, USER, PROJECT, PROMPT, "staging", 2)
    return ctx


def active(release: Release) -> ActiveRelease:
    """The resolver's view of a release."""
    return ActiveRelease.from_dict(release_runtime_json(release, {}))


ScoreFn = Callable[[random.Random, str], float | None]


def bernoulli(canary: float, control: float) -> ScoreFn:
    """A 0/1 score with probability ``canary`` / ``control`` of 1 (other arms: control)."""
    return lambda rng, arm: float(rng.random() < (canary if arm == "canary" else control))


def traffic(
    ctx: Context,
    release: Release,
    *,
    units: int,
    error: tuple[float, float] = (0.02, 0.02),
    scores: dict[str, ScoreFn] | None = None,
    calls_per_unit: int = 1,
    seed: int = 0,
    first: int = 0,
    arms: tuple[str, ...] = ("canary", "control"),
    force_arm: str | None = None,
    latency: tuple[float, float] = (800.0, 800.0),
    users: str | None = None,
) -> Counter[str]:
    """Log calls (and scores) of ``units`` users through ``release``; returns units per arm.

    Units are bucketed by the real resolver unless ``force_arm`` puts every one in that arm.
    ``error`` is the per-call error probability of (canary, control). Unit keys are
    ``{users}-{i}`` (default ``users``: ``user-{seed}``), so two calls with the same ``users``
    and different seeds bring the same users back.
    """
    rng = random.Random(seed)
    view = active(release)
    at = ctx.clock()
    records: list[CallRecord] = []
    score_rows: list[Score] = []
    seen: Counter[str] = Counter()
    for i in range(first, first + units):
        unit = f"{users or f'user-{seed}'}-{i}"
        arm = force_arm or resolve(release.baseline_version, view, unit).arm
        if arm not in arms:
            continue
        seen[arm] += 1
        version = release.candidate_version if arm == "canary" else release.baseline_version
        p_error = error[0] if arm == "canary" else error[1]
        for j in range(calls_per_unit):
            call_id = f"c{seed}x{i}x{j}x{release.id[-6:]}"
            records.append(
                CallRecord(
                    id=call_id,
                    at=at,
                    prompt=release.prompt,
                    label=release.label,
                    version=version,
                    digest="sha256:" + "0" * 64,
                    release_id=release.id,
                    arm=arm,
                    unit_hash=f"h{unit}",
                    context={},
                    variables=None,
                    output=None,
                    model=None,
                    latency_ms=rng.gauss(latency[0] if arm == "canary" else latency[1], 50.0),
                    tokens_in=None,
                    tokens_out=None,
                    cost=0.002,
                    error="Boom: simulated" if rng.random() < p_error else None,
                )
            )
            for name, fn in (scores or {}).items():
                value = fn(rng, arm)
                if value is not None:
                    score_rows.append(Score(call_id, name, value, "user", at))
    with ctx.store.unit_of_work(write=True) as uow:
        for start in range(0, len(records), 1000):
            uow.add_calls(release.project, records[start : start + 1000])
        for start in range(0, len(score_rows), 1000):
            uow.add_scores(release.project, score_rows[start : start + 1000])
    return seen


def history_call(call_id: str, at: datetime, unit_hash: str, **fields: Any) -> CallRecord:
    """A call on :data:`PROMPT` outside any release (a unit's history before one); its metrics
    are empty unless ``fields`` give them (or override any other field)."""
    values: dict[str, Any] = {
        "id": call_id, "at": at, "prompt": PROMPT, "label": "prod", "version": 1,
        "digest": "sha256:" + "0" * 64, "release_id": None, "arm": "baseline",
        "unit_hash": unit_hash, "context": {}, "variables": None, "output": None, "model": None,
        "latency_ms": None, "tokens_in": None, "tokens_out": None, "cost": None, "error": None,
    }  # fmt: skip
    return CallRecord(**(values | fields))


def audit_rows(ctx: Context, project: str = PROJECT) -> list[Any]:
    """Every audit row of the project, oldest first."""
    with ctx.store.unit_of_work() as uow:
        return list(uow.iter_audit(project))
