"""A look read from the per-minute rollups equals a scan of the raw calls (SQLite, Postgres).

Random batches with late records, duplicates (same id, same or another ``at``), calls without
a unit or a release, ramp advances at times inside a minute (and on one), scores arriving
before and after their calls, and a fast-path window whose ends fall inside minutes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptstage.domain.calls import CallRecord, Score
from promptstage.domain.releases import ReleaseChange, ReleaseMetrics
from promptstage.service import releases
from promptstage.service.context import Context
from promptstage.store.base import MetricsSource
from promptstage.store.sql import SqlStore
from support import releases as helpers
from support.releases import PROJECT, PROMPT, T0, USER

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

_counter = itertools.count()

call_st = st.fixed_dictionaries(
    {
        "id": st.integers(0, 60),
        "offset_us": st.integers(0, 240_000_000),
        "unit": st.one_of(st.none(), st.integers(0, 12)),
        "arm": st.sampled_from(("canary", "control", "baseline", "off")),
        "in_release": st.booleans(),
        "error": st.booleans(),
        "latency": st.one_of(st.none(), st.just(0.0), st.floats(1e-6, 5000)),
        "cost": st.one_of(st.none(), st.just(0.0), st.floats(1e-6, 3)),
    }
)
score_st = st.tuples(
    st.integers(0, 60),
    st.sampled_from(("csat", "thumbs")),
    st.one_of(st.just(0.0), st.floats(1e-6, 5)),
)
batches_st = st.lists(
    st.tuples(st.lists(call_st, min_size=1, max_size=30), st.lists(score_st, max_size=6)),
    min_size=1,
    max_size=5,
)
# advances in seconds after T0: inside a minute, or exactly on one
advance_st = st.lists(
    st.one_of(st.integers(1, 239).map(float), st.floats(1, 239, allow_nan=False)),
    min_size=1,
    max_size=2,
    unique=True,
).map(sorted)
window_st = st.tuples(st.floats(0, 240, allow_nan=False), st.floats(0, 240, allow_nan=False))


def _flat(m: ReleaseMetrics) -> dict[str, Any]:
    """Every number of ``m`` by its path (lists of shared units sorted)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, list | tuple):
            items = sorted(value, key=repr) if prefix.startswith("/cross") else value
            for i, v in enumerate(items):
                walk(f"{prefix}[{i}]", v)
        else:
            out[prefix] = value

    walk("", m)
    return out


def _same(a: ReleaseMetrics, b: ReleaseMetrics) -> None:
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys()
    for key, value in fa.items():
        if isinstance(value, float):
            assert math.isclose(value, fb[key], rel_tol=1e-9, abs_tol=1e-6), key
        else:
            assert value == fb[key], key


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=batches_st, advances=advance_st, window=window_st)
def test_a_look_from_rollups_matches_a_scan_of_raw_calls(
    seeded: Context,
    batches: list[tuple[list[dict[str, Any]], list[tuple[int, str, float]]]],
    advances: list[float],
    window: tuple[float, float],
) -> None:
    n = next(_counter)
    start = T0 + timedelta(minutes=30 * n)
    with seeded.store.unit_of_work() as uow:
        template = uow.active_release(PROJECT, PROMPT, "prod")
    if template is None:
        template = releases.start_release(
            seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2,
            strategy="ramp",
            steps=[{"weight_bps": w, "min_duration_seconds": 60} for w in (1000, 2500, 5000)],
        )  # fmt: skip
    rel = dataclasses.replace(
        template, id=f"prop{n}", state="aborted", created_at=start, step_started_at=start
    )
    with seeded.store.unit_of_work(write=True) as uow:
        uow.add_release(rel)
        for i, seconds in enumerate(advances, start=1):
            uow.add_release_change(
                ReleaseChange(
                    rel.id, start + timedelta(seconds=seconds), USER, "advance",
                    "running", "running", i, 1000, "test",
                )
            )  # fmt: skip
    for calls, scores in batches:
        records = [
            CallRecord(
                id=f"p{n}-{c['id']}",
                at=start + timedelta(microseconds=c["offset_us"]),
                prompt=PROMPT,
                label="prod",
                version=2 if c["arm"] == "canary" else 1,
                digest="sha256:" + "0" * 64,
                release_id=rel.id if c["in_release"] else None,
                arm=c["arm"],
                unit_hash=None if c["unit"] is None else f"u{c['unit']}",
                context={},
                variables=None,
                output=None,
                model=None,
                latency_ms=c["latency"],
                tokens_in=None,
                tokens_out=None,
                cost=c["cost"],
                error="boom" if c["error"] else None,
            )
            for c in calls
        ]
        items = [Score(f"p{n}-{i}", name, v, "api", start) for i, name, v in scores]
        with seeded.store.unit_of_work(write=True) as uow:
            uow.add_scores(PROJECT, items)
            uow.add_calls(PROJECT, records)
    since, until = (start + timedelta(seconds=s) for s in sorted(window))
    with seeded.store.unit_of_work() as uow:
        windows = {rel.id: (since, until)}
        rolled = uow.releases_metrics(PROJECT, [rel], windows)[rel.id]
        raw = uow.releases_metrics(PROJECT, [rel], windows, source="calls")[rel.id]
    _same(rolled, raw)


def test_rollups_count_each_stored_call_once(seeded: Context) -> None:
    """Retried and late records: the rollups sum exactly the calls stored."""
    with seeded.store.unit_of_work() as uow:
        assert uow.releases_metrics(PROJECT, [], None) == {}
    record = CallRecord(
        id="c1", at=T0 + timedelta(seconds=61.5), prompt=PROMPT, label="prod", version=1,
        digest="sha256:" + "0" * 64, release_id="r1", arm="control", unit_hash="u1",
        context={}, variables=None, output=None, model=None, latency_ms=10.0,
        tokens_in=None, tokens_out=None, cost=None, error=None,
    )  # fmt: skip
    late = dataclasses.replace(record, id="c2", at=T0 - timedelta(days=1), latency_ms=30.0)
    moved = dataclasses.replace(record, at=T0 + timedelta(hours=2), latency_ms=999.0)
    with seeded.store.unit_of_work(write=True) as uow:
        assert uow.add_calls(PROJECT, [record, record]) == 1
    with seeded.store.unit_of_work(write=True) as uow:
        assert uow.add_calls(PROJECT, [record, late, moved]) == 1
    assert isinstance(seeded.store, SqlStore)
    with seeded.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT n, n_lat, lat FROM call_rollups ORDER BY minute").all()
    assert [tuple(r) for r in rows] == [(1, 1, 30.0), (1, 1, 10.0)]


@pytest.mark.parametrize("source", ["rollups", "calls"])
def test_an_empty_release_reads_nothing(seeded: Context, source: MetricsSource) -> None:
    template = releases.start_release(
        seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2,
        strategy="canary",
    )  # fmt: skip
    with seeded.store.unit_of_work() as uow:
        m = uow.releases_metrics(PROJECT, [template], source=source)
    assert m[template.id].metrics == {}
