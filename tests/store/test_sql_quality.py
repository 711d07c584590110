"""Quality aggregates per version and per label, per day: the same figures on both backends."""

from __future__ import annotations

import math
from datetime import timedelta

from store_factories import at, seed

from promptstage.domain.calls import CallRecord, Score
from promptstage.store.sql import SqlStore


def _call(i: int, *, day: int, version: int, label: str, **extra: object) -> CallRecord:
    fields: dict[str, object] = {
        "id": f"c{i}", "at": at(day * 86400 + i), "prompt": "greet", "label": label,
        "version": version, "digest": "sha256:" + "0" * 64, "release_id": None, "arm": "baseline",
        "unit_hash": None, "context": {}, "variables": None, "output": None, "model": None,
        "latency_ms": None, "tokens_in": None, "tokens_out": None, "cost": None, "error": None,
    }  # fmt: skip
    fields.update(extra)
    return CallRecord(**fields)  # type: ignore[arg-type]


def _nearest_rank(values: list[float], p: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(p * len(ordered) / 100) - 1]


def test_quality_buckets_per_version_and_day(store: SqlStore) -> None:
    seed(store, versions=2)
    latencies = [float(v) for v in (120, 80, 300, 95, 101, 4000, 150, 99, 87, 110, 130)]
    records = [
        _call(i, day=0, version=1, label="prod", latency_ms=ms, tokens_in=10, tokens_out=5, cost=0.5,
              error="timeout" if i % 4 == 0 else None)
        for i, ms in enumerate(latencies)
    ]  # fmt: skip
    records += [
        _call(100 + i, day=1, version=2, label="staging", latency_ms=50.0) for i in range(3)
    ]
    records.append(_call(200, day=1, version=1, label="prod"))  # no latency reported
    records.append(_call(300, day=5, version=1, label="prod"))  # outside the period
    with store.unit_of_work(write=True) as uow:
        uow.add_calls("clinic", records)
        uow.add_scores(
            "clinic",
            [Score("c1", "csat", 4.0, "user", at(10)), Score("c2", "csat", 2.0, "user", at(11)),
             Score("c101", "thumbs_down", 1.0, "user", at(86400 + 5))],
        )  # fmt: skip
    bounds = [at() + timedelta(days=d) for d in range(3)]
    with store.unit_of_work() as uow:
        buckets = uow.quality_buckets("clinic", "greet", "version", bounds)
        period = uow.quality_buckets("clinic", "greet", "label", [bounds[0], bounds[-1]])
        names = uow.score_names("clinic", "greet", bounds[0])
        later = uow.score_names("clinic", "greet", bounds[1])
    cells = {(b.key, b.bucket): b for b in buckets}
    assert set(cells) == {(1, 0), (1, 1), (2, 1)}
    first = cells[(1, 0)]
    assert (first.calls, first.errors) == (11, 3)
    assert (first.tokens_in, first.tokens_out) == (110, 55)
    assert math.isclose(first.cost, 5.5)
    assert first.latency == {p: _nearest_rank(latencies, p) for p in (50, 95, 99)}
    assert first.scores["csat"].count == 2 and first.scores["csat"].mean == 3.0
    assert cells[(1, 1)].calls == 1 and cells[(1, 1)].latency == {}
    assert cells[(2, 1)].latency == {50: 50.0, 95: 50.0, 99: 50.0}
    assert cells[(2, 1)].scores["thumbs_down"].total == 1.0
    by_label = {b.key: b for b in period}
    assert set(by_label) == {"prod", "staging"} and {b.bucket for b in period} == {0}
    assert by_label["prod"].calls == 12 and by_label["staging"].calls == 3
    assert names == ["csat", "thumbs_down"] and later == ["thumbs_down"]


def test_quality_buckets_of_a_prompt_without_calls(store: SqlStore) -> None:
    seed(store, versions=1)
    with store.unit_of_work() as uow:
        assert uow.quality_buckets("clinic", "greet", "version", [at(), at(86400)]) == []
        assert uow.quality_buckets("clinic", "greet", "version", [at()]) == []
        assert uow.score_names("clinic", "greet", at()) == []
