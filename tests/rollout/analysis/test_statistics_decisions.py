"""Guardrail decisions, the release state machine and the ramp policy (SPEC §7)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from promptstage.errors import ConflictError, InvalidInputError
from promptstage.rollout.analysis.fastpath import CallSums, Window
from promptstage.rollout.analysis.statistics import (
    DEFAULT_RAMP_BPS,
    TERMINAL_STATES,
    ArmStats,
    CallStats,
    Guardrail,
    Look,
    MetricStats,
    allowed_actions,
    evaluate,
    next_step,
    sample_ratio,
    transition,
    validate_steps,
)


def binary(n: int, rate: float) -> ArmStats:
    """An arm of ``n`` units with 0/1 values at ``rate``."""
    hits = round(n * rate)
    return ArmStats.from_sums(n, hits, hits)


def metric(
    canary: ArmStats,
    control: ArmStats,
    calls: CallStats | None = None,
    window: Window | None = None,
) -> MetricStats:
    return MetricStats(canary, control, calls, window=window)


def binary_calls(calls: int, rate: float) -> CallSums:
    hits = float(round(calls * rate))
    return CallSums(calls, hits, hits)


def window(canary: CallSums, control: CallSums, tests: int = 0) -> Window:
    """The fast path's window: both sides' calls since the previous tested look."""
    return Window(canary, control, tests)


THUMBS = Guardrail("thumbs_down", "increase")
ERRORS = Guardrail(
    "error_rate", "increase", fast_threshold=0.20, fast_min_calls=50, fast_margin=0.05
)
CSAT = Guardrail("csat", "decrease", tolerance=0.1)


# --- guardrails -------------------------------------------------------------------------------


def test_guardrail_defaults_follow_the_spec() -> None:
    g = Guardrail("thumbs_down", "increase")
    assert (g.tolerance, g.min_units, g.fast_threshold, g.fast_min_calls) == (0.0, 100, None, 50)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"metric": "", "harmful": "increase"}, "metric"),
        ({"metric": "x", "harmful": "up"}, "harmful"),
        ({"metric": "x", "harmful": "increase", "tolerance": -0.1}, "tolerance"),
        ({"metric": "x", "harmful": "increase", "tolerance": math.nan}, "tolerance"),
        ({"metric": "x", "harmful": "increase", "min_units": 1}, "min_units"),
        ({"metric": "x", "harmful": "increase", "fast_threshold": math.inf}, "fast_threshold"),
        ({"metric": "x", "harmful": "increase", "fast_min_calls": 0}, "fast_min_calls"),
    ],
)
def test_guardrail_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Guardrail(**kwargs)
    assert info.value.field == field


def test_guardrail_json_round_trip() -> None:
    assert Guardrail.from_dict(ERRORS.to_dict()) == ERRORS
    assert Guardrail.from_dict({"metric": "csat", "harmful": "decrease"}) == Guardrail(
        "csat", "decrease"
    )
    with pytest.raises(InvalidInputError) as info:
        Guardrail.from_dict({"metric": "csat", "harmful": "decrease", "threshold": 1})
    assert info.value.field == "threshold"
    with pytest.raises(InvalidInputError):
        Guardrail.from_dict({"metric": "csat"})


# --- one look -----------------------------------------------------------------------------------


def test_clear_increase_rolls_back_with_a_readable_reason() -> None:
    look = evaluate([THUMBS], {"thumbs_down": metric(binary(2000, 0.15), binary(2000, 0.10))})
    assert look.decision == "rollback"
    (result,) = look.results
    assert result.decision == "regressed" and not result.fast_path
    assert result.interval is not None and result.interval.lower > 0
    assert result.reason.startswith(
        f"interval [+{result.interval.lower:.3f}, +inf) lies above +0.000"
    )
    assert "thumbs_down increased" in result.reason
    assert "canary 0.150 vs control 0.100" in result.reason
    assert look.reason.startswith("rollback: interval")


def test_decrease_guardrail_with_tolerance() -> None:
    worse = metric(ArmStats(3000, 3.70, 1.2), ArmStats(3000, 4.00, 1.2))
    look = evaluate([CSAT], {"csat": worse})
    assert look.decision == "rollback"
    assert "lies below -0.100 tolerance: csat decreased" in look.results[0].reason
    within = metric(ArmStats(3000, 3.95, 1.2), ArmStats(3000, 4.00, 1.2))
    look = evaluate([CSAT], {"csat": within})
    assert look.decision == "advance_allowed"
    assert "does not lie below -0.100 tolerance: csat ok" in look.results[0].reason


def test_tolerance_absorbs_a_small_certain_change() -> None:
    stats = {"thumbs_down": metric(binary(50_000, 0.11), binary(50_000, 0.10))}
    assert evaluate([THUMBS], stats).decision == "rollback"
    lenient = Guardrail("thumbs_down", "increase", tolerance=0.02)
    assert evaluate([lenient], stats).decision == "advance_allowed"


def test_improvement_never_rolls_back() -> None:
    look = evaluate([THUMBS], {"thumbs_down": metric(binary(5000, 0.05), binary(5000, 0.10))})
    assert look.decision == "advance_allowed"


def test_fast_path_fires_on_calls_before_the_minimum_sample() -> None:
    w = window(binary_calls(64, 0.31), binary_calls(1200, 0.02))
    stats = {"error_rate": metric(binary(20, 0.3), binary(20, 0.02), CallStats(64, 0.31), w)}
    look = evaluate([ERRORS], stats)
    assert look.decision == "rollback"
    (result,) = look.results
    assert result.fast_path and result.decision == "regressed"
    assert result.reason.startswith(
        "canary error_rate 0.312 over 64 calls vs control 0.020 over 1200 calls in the window: "
        "0.312 > fast-path bar 0.200 and exact-binomial p "
    )


def test_fast_path_needs_its_minimum_calls_and_the_harmful_side() -> None:
    w = window(binary_calls(49, 0.9), binary_calls(1000, 0.02))
    few = {"error_rate": metric(binary(20, 0.3), binary(20, 0.02), CallStats(49, 0.9), w)}
    assert evaluate([ERRORS], few).decision == "hold"
    w = window(binary_calls(500, 0.19), binary_calls(9500, 0.02))
    low = {"error_rate": metric(binary(200, 0.02), binary(200, 0.02), CallStats(500, 0.19), w)}
    # far above the control, but under the 20 % threshold: not a fast-path case
    assert evaluate([ERRORS], low).decision == "advance_allowed"
    floor = Guardrail("csat", "decrease", fast_threshold=2.0)
    w = window(CallSums(60, 90.0, 150.0), CallSums(600, 2400.0, 10200.0))
    bad = {"csat": metric(ArmStats(60, 1.5, 0.5), ArmStats(60, 4.0, 1.0), CallStats(60, 1.5), w)}
    result = evaluate([floor], bad).results[0]
    assert result.fast_path and "< fast-path bar 2.000 and welch-z p " in result.reason


def test_missing_or_thin_data_holds() -> None:
    look = evaluate([THUMBS], {})
    assert look.decision == "hold"
    assert look.results[0].decision == "insufficient"
    assert "no data for thumbs_down yet" in look.reason
    thin = evaluate([THUMBS], {"thumbs_down": metric(binary(99, 0.9), binary(400, 0.0))})
    assert thin.decision == "hold"
    assert "canary has 99 and control 400 units, need 100 per arm" in thin.reason


def test_insufficient_even_when_the_interval_is_already_harmful() -> None:
    # SPEC: roll back only after min_units per arm (the fast path aside).
    strict = Guardrail("thumbs_down", "increase", min_units=500)
    look = evaluate([strict], {"thumbs_down": metric(binary(300, 0.6), binary(300, 0.0))})
    assert look.decision == "hold"


def test_one_missing_guardrail_blocks_the_advance() -> None:
    stats = {"thumbs_down": metric(binary(500, 0.10), binary(500, 0.10))}
    look = evaluate([THUMBS, CSAT], stats)
    assert [r.decision for r in look.results] == ["ok", "insufficient"]
    assert look.decision == "hold"


def test_rollback_wins_over_everything() -> None:
    stats = {
        "thumbs_down": metric(binary(500, 0.10), binary(500, 0.10)),
        "error_rate": metric(
            binary(10, 0.5),
            binary(10, 0.0),
            CallStats(80, 0.5),
            window(binary_calls(80, 0.5), binary_calls(1000, 0.02)),
        ),
    }
    look = evaluate([THUMBS, CSAT, ERRORS], stats, srm=sample_ratio(2000, 1000))
    assert look.decision == "rollback" and look.unhealthy
    assert [r.decision for r in look.results] == ["ok", "insufficient", "regressed"]


def test_sample_ratio_mismatch_holds_and_flags() -> None:
    stats = {"thumbs_down": metric(binary(500, 0.10), binary(500, 0.10))}
    look = evaluate([THUMBS], stats, srm=sample_ratio(1200, 1000))
    assert look.decision == "hold" and look.unhealthy
    assert look.reason.startswith("hold: unhealthy, canary 1200 vs control 1000 units")
    healthy = evaluate([THUMBS], stats, srm=sample_ratio(1010, 1000))
    assert healthy.decision == "advance_allowed" and not healthy.unhealthy


def test_bonferroni_splits_alpha_over_guardrails() -> None:
    stats = {
        "thumbs_down": metric(binary(500, 0.10), binary(500, 0.10)),
        "error_rate": metric(binary(500, 0.02), binary(500, 0.02)),
        "csat": metric(ArmStats(500, 4.0, 1.2), ArmStats(500, 4.0, 1.2)),
    }
    look = evaluate([THUMBS, ERRORS, CSAT], stats, alpha=0.06)
    assert look.alpha == 0.06
    # three confidence sequences (weight 1 each) and the error_rate fast path (weight 0.1)
    each = 0.06 / 3.1
    assert [r.interval.alpha for r in look.results if r.interval] == pytest.approx([each] * 3)
    assert look.budget is not None
    assert look.budget.alpha_for("error_rate:fast") == pytest.approx(0.006 / 3.1)
    assert look.decision == "advance_allowed"


def test_no_guardrails_advance_on_time_only() -> None:
    look = evaluate([], {})
    assert look.decision == "advance_allowed" and look.results == ()


def test_evaluate_rejects_bad_alpha() -> None:
    with pytest.raises(InvalidInputError):
        evaluate([THUMBS], {}, alpha=0.5)


def test_look_serialises_to_strict_json() -> None:
    stats = {
        "thumbs_down": metric(binary(500, 0.12), binary(500, 0.10)),
        "error_rate": metric(binary(1, 0.0), binary(500, 0.02), CallStats(10, 0.0)),
    }
    look = evaluate([THUMBS, ERRORS, CSAT], stats, srm=sample_ratio(500, 500))
    body = json.loads(json.dumps(look.to_dict(), allow_nan=False))
    assert body["decision"] == "hold"
    assert [g["metric"] for g in body["guardrails"]] == ["thumbs_down", "error_rate", "csat"]
    assert body["guardrails"][0]["interval"]["upper"] is None
    assert body["guardrails"][2]["interval"] is None
    assert body["srm"]["checked"] is True


# --- state machine ----------------------------------------------------------------------------

EXPECTED = {
    ("running", "advance"): "running",
    ("running", "pause"): "paused",
    ("running", "promote"): "completed",
    ("running", "rollback"): "rolled_back",
    ("running", "abort"): "aborted",
    ("paused", "resume"): "running",
    ("paused", "promote"): "completed",
    ("paused", "rollback"): "rolled_back",
    ("paused", "abort"): "aborted",
}
STATES = ["running", "paused", "completed", "rolled_back", "aborted"]
ACTIONS = ["advance", "pause", "resume", "promote", "rollback", "abort"]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_table(state: Any, action: Any) -> None:
    if (state, action) in EXPECTED:
        assert transition(state, action) == EXPECTED[state, action]
        assert action in allowed_actions(state)
    else:
        with pytest.raises(ConflictError) as info:
            transition(state, action)
        assert state in info.value.message and action in info.value.message
        assert info.value.details["allowed"] == list(allowed_actions(state))
        assert info.value.field == "state"


def test_conflict_messages_name_what_is_allowed() -> None:
    with pytest.raises(
        ConflictError, match="a paused release allows: resume, promote, rollback, abort"
    ):
        transition("paused", "advance")
    with pytest.raises(ConflictError, match="rolled_back, which is final; start a new release"):
        transition("rolled_back", "resume")
    assert {"completed", "rolled_back", "aborted"} == TERMINAL_STATES


def test_unknown_names_are_invalid_input() -> None:
    with pytest.raises(InvalidInputError):
        transition("sleeping", "advance")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        transition("running", "jump")  # type: ignore[arg-type]


# --- ramp policy ------------------------------------------------------------------------------


def look_of(decision: str, *, unhealthy: bool = False) -> Look:
    return Look(decision, f"look says {decision}", (), 0.05, None, unhealthy)  # type: ignore[arg-type]


RAMP = list(DEFAULT_RAMP_BPS)


def test_default_ramp() -> None:
    assert validate_steps(RAMP) == (500, 2500, 5000, 10000)


@pytest.mark.parametrize(
    "steps", [[], [0], [500, 500], [2500, 500], [500, 7500], [500, 10001], [True]]
)
def test_bad_ramps(steps: list[int]) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_steps(steps)
    assert info.value.field == "steps"


def test_advance_when_duration_passed_and_guardrails_ok() -> None:
    decision = next_step(RAMP, 0, 3600, 3600, look_of("advance_allowed"))
    assert (decision.action, decision.step_index, decision.weight_bps) == ("advance", 1, 2500)
    assert decision.release_action == "advance"
    assert decision.reason.startswith("advance from step 1 of 4 (5 %) to 25 %")


def test_hold_while_the_step_is_young() -> None:
    decision = next_step(RAMP, 1, 1800, 3600, look_of("advance_allowed"))
    assert (decision.action, decision.step_index, decision.weight_bps) == ("hold", 1, 2500)
    assert decision.release_action is None
    assert "ran 1800 s of its minimum 3600 s" in decision.reason
    assert next_step(RAMP, 1, -5, 0.0, look_of("advance_allowed")).action == "advance"
    assert next_step(RAMP, 1, -5, 1.0, look_of("advance_allowed")).action == "hold"


def test_hold_when_the_look_holds() -> None:
    decision = next_step(RAMP, 1, 99_999, 3600, look_of("hold"))
    assert decision.action == "hold" and decision.reason.startswith("look says hold")


def test_rollback_at_any_time_and_pause_when_unhealthy() -> None:
    rollback = next_step(RAMP, 2, 0, 3600, look_of("rollback", unhealthy=True))
    assert (rollback.action, rollback.weight_bps, rollback.release_action) == (
        "rollback",
        0,
        "rollback",
    )
    pause = next_step(RAMP, 2, 99_999, 3600, look_of("hold", unhealthy=True))
    assert (pause.action, pause.weight_bps, pause.release_action) == ("pause", 5000, "pause")


def test_complete_before_the_hundred_percent_step() -> None:
    decision = next_step(RAMP, 2, 3600, 3600, look_of("advance_allowed"))
    assert (decision.action, decision.step_index, decision.weight_bps) == ("complete", 3, 10_000)
    assert decision.release_action == "promote"


def test_single_step_canary_completes_and_ab_never_does() -> None:
    canary = next_step([500], 0, 3600, 3600, look_of("advance_allowed"))
    assert (canary.action, canary.step_index, canary.weight_bps) == ("complete", 0, 10_000)
    ab = next_step([5000], 0, 10**6, 3600, look_of("advance_allowed"), auto_promote=False)
    assert ab.action == "hold" and "never auto-promoted" in ab.reason


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"current_index": 4}, "current_index"),
        ({"current_index": -1}, "current_index"),
        ({"min_duration_s": -1.0}, "min_duration_s"),
        ({"min_duration_s": math.nan}, "min_duration_s"),
        ({"step_started_at_seconds_ago": math.nan}, "step_started_at_seconds_ago"),
    ],
)
def test_next_step_rejects_bad_input(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {
        "steps": RAMP,
        "current_index": 0,
        "step_started_at_seconds_ago": 10.0,
        "min_duration_s": 5.0,
        "look": look_of("advance_allowed"),
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError) as info:
        next_step(**args)
    assert info.value.field == field
