"""The release controller on SQLite and Postgres, with an injected clock and synthetic traffic."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from promptstage.cli.fake_behaviours import Behaviour
from promptstage.domain.releases import CONTROLLER_ACTOR, Release
from promptstage.evals.gate_policy import SECURITY_SUITE, RunStatus
from promptstage.rollout.analysis import ramp
from promptstage.service import controller, releases
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.service.controller import GATE_REFUSED
from promptstage.service.eval_gate import EvalGate
from promptstage.store.sql import SqlStore
from support import releases as helpers
from support.eval_gate import MemoryRuns, graded_run
from support.releases import PROJECT, PROMPT, USER, FakeClock, audit_rows, bernoulli, traffic

# The release tests' fixtures (tests/support/releases.py), on SQLite and Postgres.
release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
published = helpers.published
seeded = helpers.seeded

HOUR = 3600


@pytest.fixture(autouse=True)
def fixed_salts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded release ids and salts, so the bucketing (and every figure here) is the same each run.

    With fresh random salts each run, the rare chance look (a sample-ratio p < 0.001, a false
    rollback at alpha 0.05) would make these tests fail once in a few hundred runs.
    """
    rng = random.Random(4)
    # Only the releases module's ids and salts: patching the global ``secrets.token_hex`` would
    # also fix the names of the test databases and make them collide across runs.
    seeded_secrets = SimpleNamespace(token_hex=lambda n: rng.randbytes(n).hex())
    monkeypatch.setattr(releases, "secrets", seeded_secrets)


def start(ctx: Context, **overrides: Any) -> Release:
    args: dict[str, Any] = {
        "prompt": PROMPT,
        "label": "prod",
        "candidate_version": 2,
        "strategy": "canary",
    }
    args.update(overrides)
    return releases.start_release(ctx, USER, PROJECT, **args)


def current(ctx: Context, release: Release) -> Release:
    return releases.get_release(ctx, PROJECT, release.id)[0]


def look(ctx: Context) -> controller.Outcome:
    """One pass at the test's clock (by default the controller reads the database's)."""
    (outcome,) = controller.run_once(ctx, ctx.clock())
    return outcome


def labels_of(ctx: Context) -> dict[str, int]:
    with ctx.store.unit_of_work() as uow:
        return uow.get_labels(PROJECT, PROMPT)


def test_a_failing_candidate_is_rolled_back_at_once_by_the_fast_path(
    seeded: Context, clock: FakeClock, published: list[Any]
) -> None:
    r = start(seeded)
    arms = traffic(seeded, r, units=2000, error=(0.5, 0.02), calls_per_unit=1)
    assert arms["canary"] >= 50
    outcome = look(seeded)
    assert (outcome.decision, outcome.action) == ("rollback", "rollback")
    assert "fast-path" in outcome.reason
    found = current(seeded, r)
    assert found.state == "rolled_back" and found.weight_bps == 0
    _, history, looks = releases.get_release(seeded, PROJECT, r.id)
    assert (history[-1].actor, history[-1].action) == (CONTROLLER_ACTOR, "rollback")
    last = audit_rows(seeded)[-1]
    assert (last.actor, last.action, last.after["state"]) == (
        CONTROLLER_ACTOR,
        "release.rollback",
        "rolled_back",
    )
    assert published[-1].type == "release.changed"
    assert (
        published[-1].data["release"]["state"] == "rolled_back"
        and published[-1].data["actor"] == CONTROLLER_ACTOR
    )
    (stored,) = looks
    assert stored.decision == "rollback" and stored.action == "rollback"
    guard = stored.data["guardrails"][0]
    assert (
        guard["metric"] == "error_rate" and guard["fast_path"] and guard["decision"] == "regressed"
    )
    assert labels_of(seeded)["prod"] == 1
    assert controller.run_once(seeded) == []  # a final release is never looked at again


def test_a_statistical_regression_is_rolled_back(seeded: Context) -> None:
    r = start(seeded, guardrails=[{"metric": "thumbs_down"}])
    traffic(seeded, r, units=8000, error=(0.0, 0.0), scores={"thumbs_down": bernoulli(0.30, 0.10)})
    outcome = look(seeded)
    assert outcome.action == "rollback", outcome.reason
    assert "thumbs_down increased" in outcome.reason
    stored = releases.list_looks(seeded, PROJECT, r.id)[0][0]
    g = stored.data["guardrails"][0]
    assert g["canary"]["n"] >= 100 and g["control"]["n"] >= 100
    assert g["canary"]["mean"] > g["control"]["mean"]
    assert g["interval"]["lower"] > 0 and g["interval"]["upper"] is None


def test_a_good_candidate_ramps_step_by_step_and_completes(
    seeded: Context, clock: FakeClock, published: list[Any]
) -> None:
    steps = [
        {"weight_bps": w, "min_duration_seconds": HOUR, "min_units": 100}
        for w in (500, 2500, 5000, 10000)
    ]
    r = start(seeded, strategy="ramp", steps=steps)
    thumbs = {"thumbs_down": bernoulli(0.10, 0.10)}
    traffic(seeded, r, units=6000, scores=thumbs, seed=1)
    assert look(seeded).action == "hold"  # minimum duration not reached
    assert "minimum" in current(seeded, r).reason
    clock.advance(HOUR)
    outcome = look(seeded)
    assert outcome.action == "advance", outcome.reason
    r2 = current(seeded, r)
    assert (r2.step_index, r2.weight_bps, r2.step_started_at) == (1, 2500, clock.now)
    traffic(seeded, r2, units=2000, scores=thumbs, seed=2)
    clock.advance(HOUR)
    outcome = look(seeded)
    assert outcome.action == "advance", outcome.reason
    r3 = current(seeded, r)
    assert r3.weight_bps == 5000
    traffic(seeded, r3, units=1000, scores=thumbs, seed=3)
    clock.advance(HOUR)
    outcome = look(seeded)
    assert outcome.action == "complete", outcome.reason
    done = current(seeded, r)
    assert done.state == "completed" and done.weight_bps == 10000
    assert labels_of(seeded)["prod"] == 2
    assert [e.type for e in published[-2:]] == ["release.changed", "label.moved"]
    assert published[-1].data["version"] == 2
    _, history, looks = releases.get_release(seeded, PROJECT, r.id)
    assert [(c.action, c.actor) for c in history] == [
        ("start", USER),
        ("advance", CONTROLLER_ACTOR),
        ("advance", CONTROLLER_ACTOR),
        ("promote", CONTROLLER_ACTOR),
    ]
    assert [lk.action for lk in looks] == ["complete", "advance", "advance", "hold"]
    metrics = {g["metric"] for g in looks[0].data["guardrails"]}
    assert metrics == {"error_rate", "thumbs_down"}  # the defaults: error_rate + every score


def test_insufficient_data_rolls_back_at_the_bake_deadline(
    seeded: Context, clock: FakeClock, published: list[Any]
) -> None:
    """Defect 4 of issue 11: with too little data the release used to hold for ever."""
    r = start(seeded)  # one step, minimum duration 1 h: the bake deadline is 4 h
    assert look(seeded).decision == "hold"
    stored = releases.list_looks(seeded, PROJECT, r.id)[0][0]
    assert "no data for error_rate" in stored.data["reason"]
    traffic(seeded, r, units=400, seed=4)  # ~20 units per arm
    clock.advance(4 * HOUR - 1)
    outcome = look(seeded)
    assert (outcome.decision, outcome.action) == ("hold", "hold")
    assert "not enough data" in outcome.reason and "bake deadline" in outcome.reason
    assert current(seeded, r).state == "running"
    clock.advance(1)
    outcome = look(seeded)
    assert (outcome.decision, outcome.action) == ("hold", "rollback"), outcome.reason
    assert "after 4 h (deadline 4 x 1 h)" in outcome.reason
    assert "error_rate" in outcome.reason
    found = current(seeded, r)
    assert (found.state, found.weight_bps) == ("rolled_back", 0)
    assert labels_of(seeded)["prod"] == 1
    last = audit_rows(seeded)[-1]
    assert (last.actor, last.action) == (CONTROLLER_ACTOR, "release.rollback")
    assert "after 4 h (deadline 4 x 1 h)" in last.reason
    assert published[-1].data["release"]["state"] == "rolled_back"


def test_no_rated_units_names_the_metric_in_the_reason(seeded: Context, clock: FakeClock) -> None:
    r = start(seeded, guardrails=[{"metric": "thumbs_down"}])
    traffic(seeded, r, units=4000, seed=4)  # calls but no thumbs_down score at all
    clock.advance(4 * HOUR)
    outcome = look(seeded)
    assert outcome.action == "rollback"
    assert "no rated units on thumbs_down after 4 h (deadline 4 x 1 h)" in outcome.reason


def test_insufficient_data_pauses_when_the_release_says_so(
    seeded: Context, clock: FakeClock
) -> None:
    r = start(seeded, on_insufficient_data="pause")
    assert r.on_insufficient_data == "pause"
    clock.advance(4 * HOUR)
    outcome = look(seeded)
    assert outcome.action == "pause", outcome.reason
    found = current(seeded, r)
    assert (found.state, found.flags, found.weight_bps) == ("paused", ("insufficient_data",), 500)
    _, history, _ = releases.get_release(seeded, PROJECT, r.id)
    assert (history[-1].actor, history[-1].action) == (CONTROLLER_ACTOR, "pause")
    assert "no rated units on error_rate after 4 h" in history[-1].reason
    assert labels_of(seeded)["prod"] == 1


def test_the_step_unit_gate_is_insufficient_data_too(seeded: Context, clock: FakeClock) -> None:
    r = start(
        seeded,
        guardrails=[],
        steps=[{"weight_bps": 500, "min_duration_seconds": HOUR, "min_units": 500}],
    )
    traffic(seeded, r, units=400, seed=5)
    clock.advance(4 * HOUR)
    outcome = look(seeded)
    assert outcome.action == "rollback" and "the step needs 500 per arm" in outcome.reason


def test_a_zero_duration_step_gets_the_floor_not_an_instant_rollback(
    seeded: Context, clock: FakeClock
) -> None:
    floor = ramp.MIN_BAKE_DEADLINE_SECONDS
    r = start(seeded, steps=[{"weight_bps": 500, "min_duration_seconds": 0, "min_units": 50}])
    assert look(seeded).action == "hold"  # the first look, before any traffic could arrive
    clock.advance(floor - 1)
    assert look(seeded).action == "hold"
    clock.advance(1)
    outcome = look(seeded)
    assert outcome.action == "rollback" and "the floor" in outcome.reason
    assert current(seeded, r).state == "rolled_back"


def test_releases_with_data_are_not_touched_by_the_deadline(
    seeded: Context, clock: FakeClock
) -> None:
    r = start(seeded, strategy="ab", steps=[{"weight_bps": 5000, "min_duration_seconds": 60}])
    traffic(seeded, r, units=1000, seed=8)
    clock.advance(100 * HOUR)
    outcome = look(seeded)
    assert (outcome.decision, outcome.action) == ("advance_allowed", "hold")
    assert current(seeded, r).state == "running"


def db_now(ctx: Context) -> datetime:
    with ctx.store.unit_of_work() as uow:
        return uow.database_now()


def test_a_restarted_controller_re_arms_the_deadline_from_the_database_clock(
    seeded: Context, release_store: SqlStore, clock: FakeClock
) -> None:
    """Fault test 12: the deadline lives in the database, not in the controller's memory."""
    clock.now = db_now(seeded) - timedelta(hours=3, minutes=59)
    r = start(seeded)  # the API wrote the step's start nearly 4 h ago, by the database's clock
    (first,) = controller.run_once(seeded)  # the database's time: still before the deadline
    assert first.action == "hold" and "bake deadline" in first.reason
    # The controller process dies; a new one starts on the same database. Its own clock says no
    # time has passed since the release started (it could be anything: it is not used).
    restarted = Context(store=release_store, bus=EventBus(), clock=FakeClock(clock.now))
    # Two minutes pass on the database's clock: moving the stored start back is the same.
    with release_store.unit_of_work(write=True) as uow:
        found = uow.get_release(PROJECT, r.id)
        assert found is not None
        uow.update_release(
            replace(found, step_started_at=found.step_started_at - timedelta(minutes=2))
        )
    (outcome,) = controller.run_once(restarted)
    assert outcome.action == "rollback", outcome.reason
    assert "(deadline 4 x 1 h)" in outcome.reason
    assert current(seeded, r).state == "rolled_back"
    last = audit_rows(seeded)[-1]
    assert (last.actor, last.action) == (CONTROLLER_ACTOR, "release.rollback")


def test_a_process_clock_hours_ahead_does_not_roll_back_early(
    seeded: Context, release_store: SqlStore, clock: FakeClock
) -> None:
    """Fault test 13: a replica whose clock runs 10 h ahead measures nothing on it."""
    clock.now = db_now(seeded)
    r = start(seeded)
    ahead = Context(
        store=release_store, bus=EventBus(), clock=FakeClock(clock.now + timedelta(hours=10))
    )
    (outcome,) = controller.run_once(ahead)
    assert outcome.action == "hold", outcome.reason
    assert current(seeded, r).state == "running"


def test_a_process_clock_hours_behind_does_not_roll_back_late(
    seeded: Context, release_store: SqlStore, clock: FakeClock
) -> None:
    clock.now = db_now(seeded) - timedelta(hours=5)
    r = start(seeded)
    behind = Context(
        store=release_store, bus=EventBus(), clock=FakeClock(clock.now - timedelta(hours=10))
    )
    (outcome,) = controller.run_once(behind)
    assert outcome.action == "rollback", outcome.reason
    assert current(seeded, r).state == "rolled_back"


def test_the_step_needs_its_own_minimum_of_units(seeded: Context, clock: FakeClock) -> None:
    r = start(
        seeded,
        guardrails=[],
        steps=[{"weight_bps": 500, "min_duration_seconds": 0, "min_units": 50}],
    )
    traffic(seeded, r, units=400, seed=5)
    outcome = look(seeded)
    assert outcome.action == "hold" and "the step needs 50 per arm" in outcome.reason
    traffic(seeded, r, units=2000, first=400, seed=5)
    assert look(seeded).action == "complete"
    assert labels_of(seeded)["prod"] == 2


def test_a_sample_ratio_mismatch_pauses_and_flags(seeded: Context, published: list[Any]) -> None:
    r = start(seeded)
    traffic(seeded, r, units=300, force_arm="canary", seed=6)
    traffic(seeded, r, units=150, force_arm="control", seed=7)
    outcome = look(seeded)
    assert outcome.action == "pause" and "sample-ratio mismatch" in outcome.reason
    paused = current(seeded, r)
    assert paused.state == "paused" and paused.flags == ("srm",) and paused.weight_bps == 500
    assert published[-1].data["release"]["state"] == "paused"
    assert controller.run_once(seeded) == []  # paused releases are not looked at
    resumed = releases.act(seeded, USER, PROJECT, r.id, "resume")
    assert resumed.flags == ()


def test_without_auto_rollback_a_regression_pauses(seeded: Context) -> None:
    r = start(seeded, auto_rollback=False)
    traffic(seeded, r, units=2000, error=(0.5, 0.0))
    outcome = look(seeded)
    assert outcome.action == "pause" and "auto_rollback is off" in outcome.reason
    assert (current(seeded, r).state, current(seeded, r).flags) == ("paused", ("regressed",))


def test_an_ab_test_reports_but_never_promotes(seeded: Context, clock: FakeClock) -> None:
    r = start(
        seeded,
        strategy="ab",
        steps=[{"weight_bps": 5000, "min_duration_seconds": 60, "min_units": 100}],
    )
    traffic(seeded, r, units=1000, seed=8)
    clock.advance(HOUR)
    outcome = look(seeded)
    assert outcome.decision == "advance_allowed" and outcome.action == "hold"
    assert "never auto-promoted" in outcome.reason
    assert current(seeded, r).state == "running"


def test_analysis_reports_every_guardrail_without_acting(seeded: Context) -> None:
    r = start(
        seeded,
        guardrails=[
            {"metric": "error_rate"},
            {"metric": "latency_ms", "harmful": "increase"},
            {"metric": "csat"},
        ],
    )
    traffic(
        seeded,
        r,
        units=3000,
        scores={"csat": lambda rng, arm: float(rng.randint(3, 5))},
        latency=(900, 800),
    )
    found, result, latest = releases.analysis(seeded, PROJECT, r.id)
    assert latest is None and found.state == "running"
    body = result.to_dict()
    assert [g["metric"] for g in body["guardrails"]] == ["error_rate", "latency_ms", "csat"]
    lat = body["guardrails"][1]
    assert lat["decision"] == "regressed" and lat["canary"]["mean"] == pytest.approx(900, abs=15)
    assert body["units"]["canary"] > 100 and body["srm"]["checked"]
    assert body["alpha"] == 0.05
    assert current(seeded, r).state == "running"  # analysis never acts


def test_metrics_are_means_per_unit_then_per_arm(seeded: Context) -> None:
    r = start(seeded)
    # Two canary units: one with 3 calls (1 error), one with 1 call (no error).
    traffic(seeded, r, units=1, calls_per_unit=3, error=(0.0, 0.0), force_arm="canary", seed=10)
    traffic(seeded, r, units=1, calls_per_unit=1, error=(1.0, 1.0), force_arm="canary", seed=11)
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r)
    err = m.metrics["error_rate"][0]["canary"]
    assert (err.units, err.total, err.total_sq, err.calls, err.call_total) == (2, 1.0, 1.0, 4, 1.0)
    assert m.units == {"canary": 2}


def test_an_unexpected_error_in_one_look_does_not_starve_the_others(
    seeded: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    start(seeded)
    looked: list[str] = []

    def broken(ctx: Context, release: Release, *args: Any, **kwargs: Any) -> Any:
        looked.append(release.id)
        raise ZeroDivisionError("a bug in one release's analysis")

    monkeypatch.setattr(controller, "look_at", broken)
    assert controller.run_once(seeded) == []  # logged and skipped, not raised
    assert len(looked) == 1


# --- what the canary is compared with ------------------------------------------------------------


def test_the_rest_of_the_traffic_on_the_baseline_is_compared_too(seeded: Context) -> None:
    r = start(seeded)
    traffic(seeded, r, units=4000, arms=("canary", "control", "baseline"), seed=20)
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r)
    step = m.metrics["error_rate"][0]
    assert set(step) == {"canary", "control", "baseline"}
    assert set(m.units) == {"canary", "control"}  # the sample-ratio check compares the equal arms
    _, result, _ = releases.analysis(seeded, PROJECT, r.id)
    error = result.to_dict()["guardrails"][0]
    assert error["canary"]["n"] == step["canary"].units
    assert error["control"]["n"] == step["control"].units + step["baseline"].units


def test_with_targeting_rules_only_the_control_arm_is_compared(seeded: Context) -> None:
    rules = {"combinator": "and", "rules": [{"field": "channel", "operator": "=", "value": "web"}]}
    r = start(seeded, targeting=rules)
    # Calls on the baseline arm of a targeted release may come from users the rules do not match.
    for seed, arm in enumerate(("canary", "control", "baseline"), start=21):
        traffic(seeded, r, units=200, force_arm=arm, seed=seed)
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r)
    step = m.metrics["error_rate"][0]
    assert set(step) == {"canary", "control"}
    _, result, _ = releases.analysis(seeded, PROJECT, r.id)
    assert result.to_dict()["guardrails"][0]["control"]["n"] == step["control"].units


def test_each_ramp_step_is_compared_within_itself(seeded: Context, clock: FakeClock) -> None:
    # The base rate jumps from 5 % to 20 % for everyone when the ramp reaches 25 %. Pooled over
    # the steps, the canary (mostly seen at 25 %) would look far worse than the rest of the
    # traffic (mostly seen at 5 %); compared step by step, nothing changed.
    steps = [
        {"weight_bps": w, "min_duration_seconds": 60, "min_units": 100} for w in (500, 2500, 5000)
    ]
    r = start(seeded, strategy="ramp", steps=steps, guardrails=[{"metric": "thumbs_down"}])
    everyone = ("canary", "control", "baseline")
    traffic(
        seeded, r, units=6000, arms=everyone, scores={"thumbs_down": bernoulli(0.05, 0.05)}, seed=30
    )
    clock.advance(HOUR)
    assert look(seeded).action == "advance"
    clock.advance(60)
    r2 = current(seeded, r)
    traffic(
        seeded,
        r2,
        units=6000,
        arms=everyone,
        scores={"thumbs_down": bernoulli(0.20, 0.20)},
        seed=31,
    )
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r2)
    thumbs = m.metrics["thumbs_down"]
    assert sorted(thumbs) == [0, 1]
    pooled_canary = (thumbs[0]["canary"].total + thumbs[1]["canary"].total) / (
        thumbs[0]["canary"].units + thumbs[1]["canary"].units
    )
    pooled_rest = sum(thumbs[s][a].total for s in (0, 1) for a in ("control", "baseline")) / sum(
        thumbs[s][a].units for s in (0, 1) for a in ("control", "baseline")
    )
    assert pooled_canary - pooled_rest > 0.05  # what a pooled comparison would call harm
    clock.advance(HOUR)
    outcome = look(seeded)
    assert outcome.action == "advance", outcome.reason
    guard = releases.list_looks(seeded, PROJECT, r.id)[0][0].data["guardrails"][0]
    assert abs(guard["interval"]["delta"]) < 0.03


def test_a_unit_seen_in_two_steps_is_one_unit_for_the_sample_ratio(
    seeded: Context, clock: FakeClock
) -> None:
    steps = [{"weight_bps": w, "min_duration_seconds": 60, "min_units": 100} for w in (500, 2500)]
    r = start(seeded, strategy="ramp", steps=steps)
    thumbs = {"thumbs_down": bernoulli(0.1, 0.1)}
    traffic(seeded, r, units=4000, seed=40, users="regular", scores=thumbs)
    with seeded.store.unit_of_work() as uow:
        before = uow.release_metrics(r).units
    clock.advance(60)
    releases.act(seeded, USER, PROJECT, r.id, "advance")
    r2 = current(seeded, r)
    traffic(
        seeded, r2, units=4000, seed=41, users="regular", scores=thumbs
    )  # the same users come back
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r2)
    error = m.metrics["error_rate"]
    assert error[1]["canary"].units > error[0]["canary"].units  # 25 % of them now
    assert m.units["canary"] == error[1]["canary"].units  # the 5 % are among the 25 %
    assert m.units["canary"] < error[0]["canary"].units + error[1]["canary"].units
    assert before["canary"] == error[0]["canary"].units
    # Every unit of step 0 came back in step 1 on the same side: the covariance sums cover them.
    cross = {(c.first, c.second): c for c in m.cross["error_rate"]}
    assert set(cross) == {((0, "canary"), (1, "canary")), ((0, "control"), (1, "control"))}
    for arm in ("canary", "control"):
        c = cross[((0, arm), (1, arm))]
        assert (c.units, c.total_first) == (error[0][arm].units, pytest.approx(error[0][arm].total))
        assert 0 <= c.total_product <= min(c.total_first, c.total_second)
    scored = {(c.first, c.second): c.units for c in m.cross["thumbs_down"]}
    assert scored[((0, "canary"), (1, "canary"))] == m.metrics["thumbs_down"][0]["canary"].units


def test_a_completion_the_gate_refuses_pauses_once_and_names_the_suites(
    seeded: Context, published: list[Any]
) -> None:
    runs = MemoryRuns()
    seeded.gate = EvalGate(runs)
    with seeded.store.unit_of_work() as uow:
        candidate = uow.get_version(PROJECT, PROMPT, 2)
    assert candidate is not None
    run = runs.add(PROJECT, graded_run(candidate, Behaviour.REFUSE, run_id="run-ok"))
    r = start(
        seeded,
        guardrails=[],
        steps=[{"weight_bps": 500, "min_duration_seconds": 0, "min_units": 50}],
    )
    # The evidence went stale during the ramp: the run now counts as interrupted.
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, status=RunStatus.INTERRUPTED)]
    traffic(seeded, r, units=2000, seed=5)
    outcome = look(seeded)
    assert outcome.action == "pause", outcome.reason
    assert "evaluation gate refused" in outcome.reason and SECURITY_SUITE in outcome.reason
    paused = current(seeded, r)
    assert (paused.state, paused.flags, paused.weight_bps) == ("paused", (GATE_REFUSED,), 500)
    assert labels_of(seeded)["prod"] == 1  # nothing of the refused completion was written
    _, history, looks = releases.get_release(seeded, PROJECT, r.id)
    assert (history[-1].actor, history[-1].action) == (CONTROLLER_ACTOR, "pause")
    assert SECURITY_SUITE in history[-1].reason
    assert [lk.action for lk in looks] == ["pause"]
    last = audit_rows(seeded)[-1]
    assert (last.actor, last.action, last.after["flags"]) == (
        CONTROLLER_ACTOR,
        "release.pause",
        [GATE_REFUSED],
    )
    assert published[-1].data["release"]["state"] == "paused"
    asked = runs.asked
    assert controller.run_once(seeded) == []  # no retry on every pass until someone acts
    assert runs.asked == asked
    # Someone acts: the suite runs again on the candidate and a person resumes the release.
    runs.add(PROJECT, graded_run(candidate, Behaviour.REFUSE, run_id="run-again"))
    releases.act(seeded, USER, PROJECT, r.id, "resume", "re-ran builtin/security")
    assert look(seeded).action == "complete"
    assert labels_of(seeded)["prod"] == 2
