"""The bake deadline: a step still short of data rolls back (or pauses) at 4 x its minimum
duration, never before, with a floor for short steps (issue 11, defect 4)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.guardrails import Guardrail, MetricStats, evaluate
from promptstage.rollout.analysis.ramp import (
    BAKE_DEADLINE_FACTOR,
    MIN_BAKE_DEADLINE_SECONDS,
    StepDecision,
    at_bake_deadline,
    bake_deadline,
    missing_data,
)
from promptstage.rollout.analysis.sequential import ArmStats

durations = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)
elapsed = st.floats(min_value=-1e7, max_value=1e8, allow_nan=False)
HOLD = StepDecision("hold", 0, 500, "hold: not enough data")


@given(durations)
def test_the_deadline_is_four_times_the_minimum_duration_with_a_floor(minimum: float) -> None:
    deadline = bake_deadline(minimum)
    assert deadline >= MIN_BAKE_DEADLINE_SECONDS
    assert deadline >= minimum  # a step never reaches its deadline while it holds for duration
    if BAKE_DEADLINE_FACTOR * minimum >= MIN_BAKE_DEADLINE_SECONDS:
        assert deadline == BAKE_DEADLINE_FACTOR * minimum


@given(durations, durations)
def test_a_longer_step_never_has_an_earlier_deadline(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert bake_deadline(low) <= bake_deadline(high)


def test_a_zero_duration_step_gets_the_floor() -> None:
    assert bake_deadline(0) == MIN_BAKE_DEADLINE_SECONDS == 600.0
    assert bake_deadline(3600) == 4 * 3600


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_a_bad_duration_is_refused(bad: float) -> None:
    with pytest.raises(InvalidInputError) as caught:
        bake_deadline(bad)
    assert caught.value.field == "min_duration_s"


@given(elapsed, durations, st.sampled_from(["rollback", "pause"]))
def test_missing_data_acts_exactly_from_the_deadline(
    ago: float, minimum: float, policy: str
) -> None:
    out = at_bake_deadline(
        HOLD,
        missing="no rated units on thumbs_down",
        step_started_at_seconds_ago=ago,
        min_duration_s=minimum,
        on_insufficient_data=policy,  # type: ignore[arg-type]
    )
    if ago < bake_deadline(minimum):  # also every negative age: skew is late, never early
        assert out.action == "hold" and "bake deadline" in out.reason
    elif policy == "rollback":
        assert (out.action, out.weight_bps, out.flag) == ("rollback", 0, None)
        assert "no rated units on thumbs_down after" in out.reason
    else:
        assert (out.action, out.weight_bps, out.flag) == ("pause", 500, "insufficient_data")


@given(elapsed, durations, st.sampled_from(["advance", "complete", "rollback", "pause", "hold"]))
def test_only_a_hold_for_missing_data_is_changed(ago: float, minimum: float, action: str) -> None:
    decision = StepDecision(action, 0, 500, "whatever")  # type: ignore[arg-type]
    missing = None if action == "hold" else "no rated units on x"
    out = at_bake_deadline(
        decision, missing=missing, step_started_at_seconds_ago=ago, min_duration_s=minimum
    )
    assert out == decision


def test_the_reason_says_what_was_missing_and_how_the_deadline_was_set() -> None:
    out = at_bake_deadline(
        HOLD,
        missing="no rated units on thumbs_down",
        step_started_at_seconds_ago=4 * 3600,
        min_duration_s=3600,
    )
    assert out.reason == "rollback: no rated units on thumbs_down after 4 h (deadline 4 x 1 h)"
    short = at_bake_deadline(HOLD, missing="x", step_started_at_seconds_ago=600, min_duration_s=0)
    assert short.reason == "rollback: x after 10 min (deadline 10 min, the floor for short steps)"


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        at_bake_deadline(
            HOLD,
            missing="x",
            step_started_at_seconds_ago=0,
            min_duration_s=0,
            on_insufficient_data="wait",  # type: ignore[arg-type]
        )
    assert caught.value.field == "on_insufficient_data"


def test_missing_data_reads_the_insufficient_guardrails() -> None:
    thumbs, errors = Guardrail("thumbs_down", "increase"), Guardrail("error_rate", "increase")
    few = MetricStats(ArmStats.from_sums(3, 0, 0), ArmStats.from_sums(20, 2, 2))
    look = evaluate([thumbs, errors], {"error_rate": few})
    assert missing_data(look) == (
        "no rated units on thumbs_down; error_rate: canary has 3 and control 20 rated units, "
        "need 100 per arm"
    )
    plenty = MetricStats(ArmStats.from_sums(500, 50, 50), ArmStats.from_sums(500, 50, 50))
    assert missing_data(evaluate([errors], {"error_rate": plenty})) is None
