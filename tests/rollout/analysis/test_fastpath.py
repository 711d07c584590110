"""The fast path against the control over a window, and the fixed error budget (issue 15).

Reproductions 1 and 3 of the issue, and property tests of the exact binomial tail, the window
spending and the budget's levels.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.budget import ErrorBudget, fast_name
from promptstage.rollout.analysis.fastpath import (
    CallSums,
    Window,
    binomial_sf,
    fast_test,
    window_alpha,
)
from promptstage.rollout.analysis.statistics import (
    ArmStats,
    CallStats,
    Guardrail,
    MetricStats,
    evaluate,
)
from promptstage.service.release_metrics import default_error_guardrail, start_budget

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")


def calls(n: int, rate: float) -> CallSums:
    hits = float(round(n * rate))
    return CallSums(n, hits, hits)


# --- reproduction 1: the fast path ignored the control ------------------------------------------


def test_repro_1_both_arms_at_22_percent_do_not_roll_back() -> None:
    # The reproduction, as written: without the control's window there is no fast path.
    ms = MetricStats(ArmStats(60, 0.22, 0.17), ArmStats(1140, 0.22, 0.17), CallStats(60, 0.22))
    assert evaluate([default_error_guardrail()], {"error_rate": ms}).decision != "rollback"
    # With the window: both sides at 22 % over the same calls.
    window = Window(calls(60, 0.22), calls(1140, 0.22))
    ms = MetricStats(ms.canary, ms.control, ms.canary_calls, window=window)
    look = evaluate([default_error_guardrail()], {"error_rate": ms})
    assert look.decision != "rollback"
    (result,) = look.results
    assert result.fast is not None and result.fast.tested and not result.fast.fired
    assert result.fast.bar == pytest.approx(0.27, abs=1e-3)  # max(20 %, 22 % + 5 points)


def test_the_fast_path_still_fires_when_the_canary_alone_breaks() -> None:
    window = Window(calls(60, 0.50), calls(1140, 0.22))
    ms = MetricStats(ArmStats(60, 0.5, 0.25), ArmStats(1140, 0.22, 0.17), window=window)
    look = evaluate([default_error_guardrail()], {"error_rate": ms})
    assert look.decision == "rollback" and look.results[0].fast_path
    body = look.to_dict()["guardrails"][0]["fast_window"]
    assert body["fired"] and body["method"] == "exact-binomial" and body["test_index"] == 1


def test_repro_1_simulated_15_percent_upstream_error_rate() -> None:
    # Both arms err at 15 % (an upstream model's bad hour); 5 % canary, 2,000 calls per look,
    # 100 looks, 500 releases. The canary-only fast path rolled back 21.7 %.
    rng = np.random.default_rng(1501)
    looks, releases = 100, 500
    t = rng.binomial(100, 0.15, size=(releases, looks))
    c = rng.binomial(1900, 0.15, size=(releases, looks))
    guard = default_error_guardrail()
    budget = ErrorBudget.for_guardrails([("error_rate", True)], alpha=0.05)
    fired = 0
    for r in range(releases):
        for look in range(looks):
            w = Window(calls(100, t[r, look] / 100), calls(1900, c[r, look] / 1900), look)
            test = fast_test(
                w,
                harmful="increase",
                threshold=0.2,
                margin=guard.fast_margin,
                min_calls=50,
                alpha=budget.alpha_for(fast_name("error_rate")),
            )
            if test.fired:
                fired += 1
                break
    assert fired / releases <= 0.01, f"{fired} of {releases} releases rolled back"


# --- reproduction 2 (pure form): a spike that starts mid-release --------------------------------


def test_repro_2_a_mid_release_spike_is_caught_within_one_window() -> None:
    # 10,000 canary calls at 2 %, then 500 at 35 %: cumulative 3.6 %, never over 20 %.
    cumulative = (10_000 * 0.02 + 500 * 0.35) / 10_500
    assert cumulative < 0.04
    rng = np.random.default_rng(1502)
    caught = 0
    for _ in range(500):
        w = Window(calls(500, rng.binomial(500, 0.35) / 500), calls(9500, 0.02), tests=20)
        test = fast_test(
            w, harmful="increase", threshold=0.2, margin=0.05, min_calls=50, alpha=0.05 / 2.1 * 0.1
        )
        caught += test.fired
    assert caught == 500


def test_fifty_calls_per_cadence_are_enough_even_at_the_hundredth_window() -> None:
    rng = np.random.default_rng(1503)
    caught = 0
    for _ in range(500):
        w = Window(calls(50, rng.binomial(50, 0.35) / 50), calls(950, 0.02), tests=99)
        test = fast_test(
            w, harmful="increase", threshold=0.2, margin=0.05, min_calls=50, alpha=0.05 / 2.1 * 0.1
        )
        caught += test.fired
    assert caught / 500 >= 0.95, caught


def test_decrease_and_non_binary_metrics() -> None:
    low = Window(CallSums(60, 60.0, 80.0), CallSums(600, 2400.0, 10200.0))
    test = fast_test(low, harmful="decrease", threshold=2.0, margin=0.5, min_calls=50, alpha=0.01)
    assert test.fired and test.method == "welch-z" and test.bar == 2.0
    few = Window(CallSums(10, 10.0, 12.0), CallSums(600, 2400.0, 10200.0))
    test = fast_test(few, harmful="decrease", threshold=2.0, margin=0.5, min_calls=50, alpha=0.01)
    assert not test.tested and not test.fired


# --- exact binomial tail and window spending (properties) ----------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 150), st.floats(0.0, 1.0), st.integers(-2, 152))
def test_binomial_sf_is_the_exact_upper_tail(n: int, p: float, x: int) -> None:
    exact = math.fsum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(max(x, 0), n + 1))
    assert binomial_sf(x, n, p) == pytest.approx(exact, abs=1e-12)


@given(st.floats(1e-6, 0.49), st.integers(1, 10_000))
def test_window_levels_never_spend_more_than_the_budget(alpha: float, windows: int) -> None:
    spent = math.fsum(window_alpha(alpha, j) for j in range(1, windows + 1))
    assert spent <= alpha * (1 + 1e-12)
    assert spent == pytest.approx(alpha * windows / (windows + 1))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(50, 400),
    st.integers(0, 5000),
    st.floats(0.0, 1.0),
    st.floats(0.0, 0.3),
)
def test_the_fast_path_never_fires_when_the_canary_is_not_worse_than_the_control(
    n_t: int, n_c: int, rate: float, margin: float
) -> None:
    control = calls(n_c, rate)
    canary = calls(n_t, min(control.mean, rate))
    test = fast_test(
        Window(canary, control),
        harmful="increase",
        threshold=0.2,
        margin=margin,
        min_calls=50,
        alpha=0.01,
    )
    assert not test.fired


# --- reproduction 3: the Bonferroni split changed during a release -------------------------------


def test_repro_3_the_error_rate_level_does_not_change_when_scores_arrive() -> None:
    budget = ErrorBudget.from_dict(start_budget(None, []).to_dict())
    errors = default_error_guardrail()
    thumbs = Guardrail("thumbs_down", "increase")
    stats = {"error_rate": MetricStats(ArmStats(500, 0.02, 0.02), ArmStats(500, 0.02, 0.02))}
    before = evaluate([errors], stats, budget=budget)
    stats["thumbs_down"] = MetricStats(ArmStats(500, 0.1, 0.09), ArmStats(500, 0.1, 0.09))
    after = evaluate([errors, thumbs], stats, budget=budget)
    level = before.results[0].interval
    assert level is not None and after.results[0].interval is not None
    assert level.alpha == after.results[0].interval.alpha
    assert after.budget is not None and after.budget.late == ("thumbs_down",)
    total = sum(after.budget.alpha_for(n) for n in ("error_rate", "error_rate:fast", "thumbs_down"))
    assert total <= 0.05


def test_the_budget_of_declared_guardrails_and_of_names_seen_before_the_start() -> None:
    declared = start_budget(
        [{"metric": "thumbs_down"}, {"metric": "error_rate", "fast_threshold": 0.2}], []
    )
    assert declared.tests == (("thumbs_down", 1.0), ("error_rate", 1.0), ("error_rate:fast", 0.1))
    assert declared.reserve == 0.0 and declared.k == pytest.approx(2.1)
    with pytest.raises(InvalidInputError):
        declared.with_late(["csat"])
    seen = start_budget(None, ["thumbs_down", "csat", "latency_ms"])
    assert [n for n, _ in seen.tests] == ["error_rate", "error_rate:fast", "csat", "thumbs_down"]
    assert seen.reserve > 0
    assert ErrorBudget.from_dict(seen.to_dict()) == seen


@given(st.lists(st.text("abcdefgh", min_size=1, max_size=4), max_size=30))
def test_late_names_never_change_a_level_nor_exceed_alpha(names: list[str]) -> None:
    budget = start_budget(None, ["thumbs_down"])
    fixed = {n: budget.alpha_for(n) for n, _ in budget.tests}
    for name in names:
        budget = budget.with_late([name])
        assert {n: budget.alpha_for(n) for n, _ in budget.tests} == fixed
        levels = [budget.alpha_for(n) for n, _ in budget.tests]
        levels += [budget.alpha_for(n) for n in budget.late]
        assert math.fsum(levels) <= budget.alpha * (1 + 1e-12)


# --- the window carried from look to look (state updates) --------------------------------------


@given(st.lists(st.booleans(), min_size=1, max_size=40))
def test_windows_are_disjoint_contiguous_and_counted(tested: list[bool]) -> None:
    from datetime import UTC, datetime, timedelta

    from promptstage.rollout.analysis.fastpath import FastTest
    from promptstage.rollout.analysis.statistics import GuardrailResult, Look
    from promptstage.service.fast_window import FastWindow

    start = datetime(2026, 1, 1, tzinfo=UTC)
    guard = default_error_guardrail()
    state = None
    closed: list[tuple[datetime, datetime]] = []
    for i, was_tested in enumerate(tested):
        now = start + timedelta(minutes=i + 1)
        window = FastWindow.after(state, start, now)
        assert window.until == now and window.since < now
        fast = FastTest(was_tested, False, 0.2, 1.0, 0.001, "", "")
        empty = ArmStats(0, 0.0, 0.0)
        result = GuardrailResult(guard, "ok", "", empty, empty, None, False, None, fast)
        state = window.next_state(Look("hold", "", (result,), 0.05))
        if was_tested:
            closed.append((window.since, window.until))
        assert state["tests"].get("error_rate", 0) == len(closed)
    for (_, end), (begin, _) in itertools.pairwise(closed):
        assert begin == end  # the next window starts where the last tested one ended
