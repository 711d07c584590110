"""Issue 15 through the controller and the store, on SQLite and Postgres.

Reproduction 2 (a spike that starts mid-release), 3 (the error budget fixed at the start and
shown in the analysis) and 4 (distinct units per arm for ``min_units`` and ``n``).
"""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from promptstage.domain.calls import CallRecord, Score
from promptstage.domain.releases import Release
from promptstage.service import controller, releases
from promptstage.service.context import Context
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, FakeClock, bernoulli, history_call, traffic

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
published = helpers.published
seeded = helpers.seeded


@pytest.fixture(autouse=True)
def fixed_salts(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(15)
    monkeypatch.setattr(
        releases, "secrets", SimpleNamespace(token_hex=lambda n: rng.randbytes(n).hex())
    )


def start(ctx: Context, **overrides: Any) -> Release:
    args: dict[str, Any] = {
        "prompt": PROMPT,
        "label": "prod",
        "candidate_version": 2,
        "strategy": "canary",
    }
    args.update(overrides)
    return releases.start_release(ctx, USER, PROJECT, **args)


def look(ctx: Context) -> controller.Outcome:
    (outcome,) = controller.run_once(ctx, ctx.clock())
    return outcome


def test_repro_2_a_spike_after_thousands_of_healthy_calls_rolls_back_at_the_next_look(
    seeded: Context, clock: FakeClock
) -> None:
    r = start(seeded, guardrails=[{"metric": "error_rate"}])
    healthy = traffic(seeded, r, units=40_000, error=(0.02, 0.02), seed=1)
    assert healthy["canary"] > 1500
    clock.advance(60)
    first = look(seeded)
    assert first.action == "hold", first.reason
    clock.advance(60)
    spike = traffic(seeded, r, units=4_000, error=(0.35, 0.02), seed=2)
    assert 100 <= spike["canary"] <= 400
    clock.advance(60)
    second = look(seeded)
    assert second.action == "rollback", second.reason
    assert "fast-path bar" in second.reason
    stored = releases.list_looks(seeded, PROJECT, r.id)[0][0].data
    guard = stored["guardrails"][0]
    # cumulative, the canary is far under 20 %: only the window shows the spike
    assert guard["canary_calls"]["mean"] < 0.12
    assert guard["fast_window"]["canary"]["calls"] == spike["canary"]
    assert guard["fast_window"]["test_index"] == 2
    assert stored["fast_window_state"]["tests"] == {"error_rate": 2}


def test_an_upstream_outage_on_both_arms_does_not_roll_back(
    seeded: Context, clock: FakeClock
) -> None:
    r = start(seeded)
    traffic(seeded, r, units=20_000, error=(0.22, 0.22), seed=3)
    clock.advance(60)
    outcome = look(seeded)
    assert outcome.action != "rollback", outcome.reason


def test_repro_3_the_error_budget_is_fixed_at_the_start_and_shown(
    seeded: Context, clock: FakeClock
) -> None:
    # thumbs_down was logged on the baseline before the release: it is budgeted from the start.
    with seeded.store.unit_of_work(write=True) as uow:
        uow.add_calls(
            PROJECT,
            [
                CallRecord(
                    id="before-1",
                    at=clock.now,
                    prompt=PROMPT,
                    label="prod",
                    version=1,
                    digest="sha256:" + "0" * 64,
                    release_id=None,
                    arm="none",
                    unit_hash=None,
                    context={},
                    variables=None,
                    output=None,
                    model=None,
                    latency_ms=None,
                    tokens_in=None,
                    tokens_out=None,
                    cost=None,
                    error=None,
                )
            ],
        )
        uow.add_scores(PROJECT, [Score("before-1", "thumbs_down", 1.0, "user", clock.now)])
    clock.advance(60)
    r = start(seeded)
    assert r.error_budget is not None
    names = [t["name"] for t in r.error_budget["tests"]]
    assert names == ["error_rate", "error_rate:fast", "thumbs_down"]
    stored = releases.get_release(seeded, PROJECT, r.id)[0]
    assert stored.error_budget == r.error_budget
    traffic(seeded, r, units=4_000, error=(0.02, 0.02), seed=4)
    clock.advance(60)
    _, before, _ = releases.analysis(seeded, PROJECT, r.id)
    error_alpha = before.to_dict()["guardrails"][0]["interval"]["alpha"]
    traffic(seeded, r, units=4_000, scores={"csat": bernoulli(0.5, 0.5)}, seed=5)
    clock.advance(60)
    look(seeded)
    _, after, _ = releases.analysis(seeded, PROJECT, r.id)
    body = after.to_dict()
    assert body["guardrails"][0]["interval"]["alpha"] == error_alpha  # unchanged by csat
    assert body["error_budget"]["late"] == ["csat"]
    levels = body["error_budget"]["levels"]
    assert sum(levels.values()) <= 0.05
    assert releases.get_release(seeded, PROJECT, r.id)[0].error_budget["late"] == ["csat"]  # type: ignore[index]


def test_repro_4_returning_units_count_once_for_min_units(
    seeded: Context, clock: FakeClock
) -> None:
    steps = [{"weight_bps": w, "min_duration_seconds": 60, "min_units": 100} for w in (2500, 5000)]
    r = start(seeded, strategy="ramp", steps=steps, guardrails=[{"metric": "thumbs_down"}])
    thumbs = {"thumbs_down": bernoulli(0.1, 0.1)}
    first = traffic(seeded, r, units=160, scores=thumbs, seed=6, users="u", arms=("canary",))
    assert 20 <= first["canary"] < 60
    clock.advance(1)
    releases.act(seeded, USER, PROJECT, r.id, "advance")
    clock.advance(1)
    r2 = releases.get_release(seeded, PROJECT, r.id)[0]
    again = traffic(seeded, r2, units=160, scores=thumbs, seed=7, users="u", arms=("canary",))
    assert first["canary"] + again["canary"] >= 100  # summed over the steps: passes 100
    with seeded.store.unit_of_work() as uow:
        metrics = uow.release_metrics(r2)
    distinct = metrics.distinct["thumbs_down"]["canary"]
    assert distinct == again["canary"] < 100  # the step-1 users came back: 1 unit each
    _, analysis, _ = releases.analysis(seeded, PROJECT, r.id)
    result = analysis.look.results[0]
    assert result.units is not None and result.units[0] == distinct
    assert result.decision == "insufficient"
    assert f"canary has {distinct} and control" in result.reason


def _history_call(i: int, j: int, at: Any) -> CallRecord:
    return history_call(f"h{i}x{j}", at, f"hu-{i}", arm="none")


def test_variance_reduction_on_the_units_history(seeded: Context, clock: FakeClock) -> None:
    users = 3000
    rng = random.Random(21)
    harsh = {i for i in range(users) if i % 4 == 0}  # a quarter of users rate harshly

    def rate(i: int) -> float:
        return 0.6 if i in harsh else 0.03

    before = clock.now
    records = [_history_call(i, j, before) for i in range(users) for j in range(4)]
    marks = [
        Score(
            c.id,
            "thumbs_down",
            float(rng.random() < rate(int(c.id[1:].split("x")[0]))),
            "user",
            before,
        )
        for c in records
    ]
    with seeded.store.unit_of_work(write=True) as uow:
        for k in range(0, len(records), 1000):
            uow.add_calls(PROJECT, records[k : k + 1000])
            uow.add_scores(PROJECT, marks[k : k + 1000])
    clock.advance(60)
    r = start(seeded, guardrails=[{"metric": "thumbs_down"}])
    traffic(seeded, r, units=users, seed=8, users="u", arms=("canary", "control", "baseline"))
    now = [
        Score(
            f"c8x{i}x0x{r.id[-6:]}", "thumbs_down", float(rng.random() < rate(i)), "user", clock.now
        )
        for i in range(users)
    ]
    with seeded.store.unit_of_work(write=True) as uow:
        for k in range(0, len(now), 1000):
            uow.add_scores(PROJECT, now[k : k + 1000])
    clock.advance(60)
    _, analysis, _ = releases.analysis(seeded, PROJECT, r.id)
    body = analysis.to_dict()["guardrails"][0]
    reduction = body["variance_reduction"]
    assert reduction["applied"] and reduction["units_with_history"] == users
    assert reduction["rho"] > 0.5
    # the plain per-arm summaries are still what the look shows
    assert body["canary"]["n"] + body["control"]["n"] == users


def test_the_api_form_of_a_release_carries_its_error_budget(seeded: Context) -> None:
    from promptstage.domain.wire import release_json

    r = start(seeded, guardrails=[{"metric": "thumbs_down"}, {"metric": "error_rate"}])
    body = release_json(r)
    assert body["error_budget"]["k"] == pytest.approx(2.1)
    assert [t["name"] for t in body["error_budget"]["tests"]] == [
        "thumbs_down",
        "error_rate",
        "error_rate:fast",
    ]
