"""Per-arm summaries, the confidence sequence and the sample-ratio check (SPEC §7)."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.statistics import (
    DEFAULT_N_STAR,
    ArmStats,
    SharedUnits,
    Stratum,
    chi2_sf_1dof,
    confidence_sequence,
    mixture_rho,
    sample_ratio,
    stratified_sequence,
)

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
counts = st.integers(min_value=2, max_value=1_000_000)
means = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)
variances = st.one_of(st.just(0.0), st.floats(min_value=1e-12, max_value=1e6))
alphas = st.floats(min_value=1e-6, max_value=0.49)
sides = st.sampled_from(["lower", "upper"])


def arms(n: int, mean: float, variance: float) -> ArmStats:
    return ArmStats(n, mean, variance)


# --- ArmStats ---------------------------------------------------------------------------------


def test_from_values_matches_statistics_module() -> None:
    data = [0.0, 1.0, 1.0, 0.0, 1.0, 3.5, 4.25]
    arm = ArmStats.from_values(data)
    assert arm.n == len(data)
    assert arm.mean == pytest.approx(statistics.fmean(data))
    assert arm.variance == pytest.approx(statistics.variance(data))


def test_empty_and_single_unit_arms() -> None:
    assert ArmStats.from_values([]) == ArmStats(0, 0.0, 0.0)
    assert ArmStats.from_values([3.0]) == ArmStats(1, 3.0, 0.0)
    assert ArmStats.from_sums(0, 0.0, 0.0) == ArmStats(0, 0.0, 0.0)
    assert ArmStats.from_sums(1, 3.0, 9.0) == ArmStats(1, 3.0, 0.0)


@given(st.lists(values, min_size=2, max_size=200))
def test_from_sums_agrees_with_welford(data: list[float]) -> None:
    welford = ArmStats.from_values(data)
    sums = ArmStats.from_sums(len(data), math.fsum(data), math.fsum(x * x for x in data))
    assert sums.n == welford.n
    assert sums.mean == pytest.approx(welford.mean, rel=1e-9, abs=1e-9)
    scale = max(x * x for x in data)
    assert sums.variance == pytest.approx(welford.variance, rel=1e-6, abs=1e-9 * scale + 1e-12)
    assert sums.variance >= 0


def test_from_sums_binary_metric() -> None:
    # 130 of 1000 units thumbs-down: sum == sum of squares for 0/1 values.
    arm = ArmStats.from_sums(1000, 130, 130)
    assert arm.mean == pytest.approx(0.13)
    assert arm.variance == pytest.approx(0.13 * 0.87 * 1000 / 999)


def test_from_sums_clamps_rounding_but_rejects_impossible_sums() -> None:
    assert ArmStats.from_sums(3, 0.3, 0.03 * (1 - 1e-12)).variance == 0.0
    with pytest.raises(InvalidInputError) as info:
        ArmStats.from_sums(10, 10.0, 5.0)
    assert info.value.field == "total_sq"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": -1, "total": 0.0, "total_sq": 0.0}, "n"),
        ({"n": True, "total": 0.0, "total_sq": 0.0}, "n"),
        ({"n": 3, "total": math.nan, "total_sq": 0.0}, "total"),
        ({"n": 3, "total": 1.0, "total_sq": math.inf}, "total_sq"),
    ],
)
def test_from_sums_rejects_bad_input(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ArmStats.from_sums(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_arm_stats_validates_fields() -> None:
    with pytest.raises(InvalidInputError):
        ArmStats(5, 1.0, -0.1)
    with pytest.raises(InvalidInputError):
        ArmStats(5, math.nan, 0.1)
    with pytest.raises(InvalidInputError):
        ArmStats.from_values([1.0, math.inf])


# --- the confidence sequence ------------------------------------------------------------------


def test_rho_formula() -> None:
    a = 2 * 0.05
    expected = math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / 5000)
    assert mixture_rho(0.05, 5000) == pytest.approx(expected, rel=1e-15)
    assert DEFAULT_N_STAR == 5000


@pytest.mark.parametrize(
    ("n", "multiplier"),
    # Half-width in standard errors at alpha 0.05, n* 5000: shared/reference/rollouts.md §8.
    [(500, 3.68), (2_000, 2.89), (5_000, 2.78), (20_000, 2.87), (100_000, 3.09)],
)
def test_halfwidth_multiplier_matches_reference(n: int, multiplier: float) -> None:
    canary = control = ArmStats(n // 2, 0.1, 0.09)
    interval = confidence_sequence(canary, control, alpha=0.05, one_sided="lower")
    se = math.sqrt(0.09 / (n // 2) * 2)
    assert interval.halfwidth / se == pytest.approx(multiplier, abs=0.005)


def test_sides() -> None:
    canary, control = ArmStats(1000, 0.13, 0.11), ArmStats(1000, 0.10, 0.09)
    lower = confidence_sequence(canary, control, alpha=0.05, one_sided="lower")
    upper = confidence_sequence(canary, control, alpha=0.05, one_sided="upper")
    assert lower.delta == upper.delta == pytest.approx(0.03)
    assert lower.halfwidth == upper.halfwidth > 0
    assert lower.upper == math.inf and lower.lower == pytest.approx(0.03 - lower.halfwidth)
    assert upper.lower == -math.inf and upper.upper == pytest.approx(0.03 + upper.halfwidth)
    assert (lower.side, upper.side, lower.alpha) == ("lower", "upper", 0.05)


def test_smaller_alpha_is_wider_and_n_star_moves_the_tightest_point() -> None:
    canary = control = ArmStats(2500, 0.1, 0.09)
    wide = confidence_sequence(canary, control, alpha=0.05 / 3, one_sided="lower")
    narrow = confidence_sequence(canary, control, alpha=0.05, one_sided="lower")
    assert wide.halfwidth > narrow.halfwidth
    tuned = confidence_sequence(canary, control, alpha=0.05, n_star=5000, one_sided="lower")
    off = confidence_sequence(canary, control, alpha=0.05, n_star=100_000, one_sided="lower")
    assert tuned.halfwidth < off.halfwidth


def test_fewer_than_two_units_gives_an_unbounded_interval() -> None:
    interval = confidence_sequence(
        ArmStats(1, 0.5, 0.0), ArmStats(500, 0.1, 0.09), alpha=0.05, one_sided="lower"
    )
    assert interval.halfwidth == math.inf
    assert interval.lower == -math.inf and interval.upper == math.inf
    assert interval.to_dict()["lower"] is None and interval.to_dict()["halfwidth"] is None


def test_zero_variance_in_both_arms_collapses_onto_the_estimate() -> None:
    same = confidence_sequence(
        ArmStats(200, 0.0, 0.0), ArmStats(200, 0.0, 0.0), alpha=0.05, one_sided="lower"
    )
    assert (same.delta, same.halfwidth, same.lower) == (0.0, 0.0, 0.0)
    apart = confidence_sequence(
        ArmStats(200, 1.0, 0.0), ArmStats(200, 0.0, 0.0), alpha=0.05, one_sided="lower"
    )
    assert apart.lower == 1.0


def test_one_zero_variance_arm_still_uses_the_other() -> None:
    interval = confidence_sequence(
        ArmStats(200, 0.02, 0.0196), ArmStats(200, 0.0, 0.0), alpha=0.05, one_sided="lower"
    )
    assert 0 < interval.halfwidth < math.inf


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"alpha": 0.0, "one_sided": "lower"}, "alpha"),
        ({"alpha": 0.5, "one_sided": "lower"}, "alpha"),
        ({"alpha": 0.05, "n_star": 0, "one_sided": "lower"}, "n_star"),
        ({"alpha": 0.05, "one_sided": "both"}, "one_sided"),
    ],
)
def test_confidence_sequence_rejects_bad_parameters(kwargs: dict[str, object], field: str) -> None:
    arm = ArmStats(100, 0.1, 0.09)
    with pytest.raises(InvalidInputError) as info:
        confidence_sequence(arm, arm, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@given(counts, counts, means, means, variances, variances, alphas, sides)
def test_never_nan(
    n_t: int, n_c: int, m_t: float, m_c: float, v_t: float, v_c: float, alpha: float, side: str
) -> None:
    interval = confidence_sequence(
        arms(n_t, m_t, v_t),
        arms(n_c, m_c, v_c),
        alpha=alpha,
        one_sided=side,  # type: ignore[arg-type]
    )
    for value in (interval.lower, interval.upper, interval.delta, interval.halfwidth):
        assert not math.isnan(value)
    assert interval.halfwidth >= 0
    assert interval.lower <= interval.delta <= interval.upper


@given(
    st.integers(min_value=2, max_value=100_000),
    st.integers(min_value=2, max_value=100_000),
    st.integers(min_value=2, max_value=50),
    st.floats(min_value=1e-6, max_value=1e4),
    st.floats(min_value=1e-6, max_value=1e4),
    alphas,
)
def test_width_shrinks_as_units_grow(
    n_t: int, n_c: int, factor: int, v_t: float, v_c: float, alpha: float
) -> None:
    def width(k: int) -> float:
        return confidence_sequence(
            ArmStats(n_t * k, 0.3, v_t), ArmStats(n_c * k, 0.1, v_c), alpha=alpha, one_sided="lower"
        ).halfwidth

    assert width(factor) < width(1)


@given(counts, counts, means, means, variances, variances, alphas)
def test_swapping_arms_mirrors_delta(
    n_t: int, n_c: int, m_t: float, m_c: float, v_t: float, v_c: float, alpha: float
) -> None:
    assume(math.isfinite(m_t - m_c))
    a, b = arms(n_t, m_t, v_t), arms(n_c, m_c, v_c)
    forward = confidence_sequence(a, b, alpha=alpha, one_sided="lower")
    backward = confidence_sequence(b, a, alpha=alpha, one_sided="upper")
    assert backward.delta == -forward.delta
    assert backward.halfwidth == pytest.approx(forward.halfwidth, rel=1e-12)
    assert backward.upper == pytest.approx(-forward.lower, rel=1e-12, abs=1e-12)


# --- stratified by ramp step -----------------------------------------------------------------


@given(counts, counts, means, means, variances, variances, alphas, sides)
def test_one_stratum_is_the_plain_sequence(
    n_t: int, n_c: int, m_t: float, m_c: float, v_t: float, v_c: float, alpha: float, side: str
) -> None:
    assume(math.isfinite(m_t - m_c))
    a, b = arms(n_t, m_t, v_t), arms(n_c, m_c, v_c)
    plain = confidence_sequence(a, b, alpha=alpha, one_sided=side)  # type: ignore[arg-type]
    strat = stratified_sequence([Stratum(a, b)], alpha=alpha, one_sided=side)  # type: ignore[arg-type]
    assert strat == plain


@given(
    st.integers(min_value=2, max_value=10_000),
    st.integers(min_value=2, max_value=10_000),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=1e-4, max_value=1.0),
    st.integers(min_value=2, max_value=6),
)
def test_identical_strata_equal_one_pooled_comparison(
    n_t: int, n_c: int, mean: float, variance: float, k: int
) -> None:
    # k steps with the same arms carry the information of one step k times as large.
    step = Stratum(ArmStats(n_t, mean + 0.02, variance), ArmStats(n_c, mean, variance))
    strat = stratified_sequence([step] * k, alpha=0.05, one_sided="lower")
    pooled = confidence_sequence(
        ArmStats(n_t * k, mean + 0.02, variance),
        ArmStats(n_c * k, mean, variance),
        alpha=0.05,
        one_sided="lower",
    )
    assert strat.delta == pytest.approx(pooled.delta, rel=1e-9)
    assert strat.halfwidth == pytest.approx(pooled.halfwidth, rel=1e-9)


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=2, max_value=5_000),
            st.integers(min_value=2, max_value=50_000),
            st.floats(min_value=-100.0, max_value=100.0),
        ),
        min_size=1,
        max_size=5,
    ),
    st.floats(min_value=-1.0, max_value=1.0),
)
def test_a_level_shared_within_a_step_never_moves_the_estimate(
    steps: list[tuple[int, int, float]], effect: float
) -> None:
    # Drift: each step has its own base level, shared by both sides. Pooling the steps would
    # mistake a level that changes with the split for an effect; the strata cancel it.
    strata = [
        Stratum(ArmStats(n_t, level + effect, 0.25), ArmStats(n_c, level, 0.25))
        for n_t, n_c, level in steps
    ]
    interval = stratified_sequence(strata, alpha=0.05, one_sided="lower")
    assert interval.delta == pytest.approx(effect, abs=1e-9)


def test_steps_are_weighted_by_their_canary_units() -> None:
    small = Stratum(ArmStats(100, 0.2, 0.16), ArmStats(1900, 0.1, 0.09))
    large = Stratum(ArmStats(300, 0.1, 0.09), ArmStats(300, 0.1, 0.09))
    interval = stratified_sequence([small, large], alpha=0.05, one_sided="lower")
    assert interval.delta == pytest.approx(0.25 * 0.1)
    se2 = 0.25**2 * (0.16 / 100 + 0.09 / 1900) + 0.75**2 * (0.09 / 300 + 0.09 / 300)
    n, nr2 = 2600, 2600 * mixture_rho(0.05) ** 2
    expected = math.sqrt(se2 * 2 * (nr2 + 1) / nr2 * math.log(1 + math.sqrt(nr2 + 1) / 0.1))
    assert n == sum(s.canary.n + s.control.n for s in (small, large))
    assert interval.halfwidth == pytest.approx(expected, rel=1e-12)


def test_a_step_with_fewer_than_two_units_on_a_side_is_left_out() -> None:
    kept = Stratum(ArmStats(400, 0.13, 0.11), ArmStats(400, 0.10, 0.09))
    newborn = Stratum(ArmStats(1, 1.0, 0.0), ArmStats(0, 0.0, 0.0))
    both = stratified_sequence([kept, newborn], alpha=0.05, one_sided="lower")
    assert both == stratified_sequence([kept], alpha=0.05, one_sided="lower")
    alone = stratified_sequence([newborn], alpha=0.05, one_sided="upper")
    assert alone.halfwidth == math.inf and alone.delta == 1.0
    assert stratified_sequence([], alpha=0.05, one_sided="lower").halfwidth == math.inf


_rating = st.floats(min_value=0.0, max_value=5.0)
# Two units rated in every step on each side, so every step has both sides by construction
# (filtering for it instead rejected most draws and tripped Hypothesis's health check).
_anchors = st.tuples(
    *[
        st.tuples(st.just(joins), st.lists(_rating, min_size=3, max_size=3))
        for joins in (0, 0, 3, 3)
    ]
).map(list)
units_over_steps = st.builds(
    lambda anchors, rest: anchors + rest,
    _anchors,
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),  # the step from which the unit is in the canary
            st.lists(st.one_of(st.none(), _rating), min_size=3, max_size=3),
        ),
        min_size=4,
        max_size=56,
    ),
)


@given(units_over_steps)
def test_units_seen_in_several_steps_add_their_covariance(
    units: list[tuple[int, list[float | None]]],
) -> None:
    # Direct computation from per-unit values: Δ̂ = Σ_u c_u with c_u = Σ_s ±λ_s (v_us - mean) / n,
    # the Welch terms on the diagonal and every unit's cross-step products off it.
    cells: dict[tuple[int, str], dict[int, float]] = {}
    for u, (joins, values) in enumerate(units):
        for step, value in enumerate(values):
            if value is not None:
                cells.setdefault((step, "canary" if step >= joins else "control"), {})[u] = value
    strata = [
        Stratum(
            *(
                ArmStats.from_values(cells.get((step, side), {}).values())
                for side in ("canary", "control")
            )
        )
        for step in range(3)
    ]
    assert all(s.canary.n >= 2 and s.control.n >= 2 for s in strata)
    total = sum(s.canary.n for s in strata)
    sides = [
        (i, side, arm)
        for i, s in enumerate(strata)
        for side, arm in (("canary", s.canary), ("control", s.control))
    ]
    coef = {
        (i, side): (1 if side == "canary" else -1) * strata[i].canary.n / total / arm.n
        for i, side, arm in sides
    }
    mean = {(i, side): arm.mean for i, side, arm in sides}
    se2 = sum(
        (s.canary.n / total) ** 2
        * (s.canary.variance / s.canary.n + s.control.variance / s.control.n)
        for s in strata
    )
    shared = []
    keys = sorted(cells)
    for a in keys:
        for b in keys:
            if a[0] >= b[0]:
                continue
            common = cells[a].keys() & cells[b].keys()
            for u in common:
                se2 += 2 * coef[a] * coef[b] * (cells[a][u] - mean[a]) * (cells[b][u] - mean[b])
            if common:
                shared.append(
                    SharedUnits(
                        a,
                        b,
                        len(common),  # type: ignore[arg-type]
                        math.fsum(cells[a][u] for u in common),
                        math.fsum(cells[b][u] for u in common),
                        math.fsum(cells[a][u] * cells[b][u] for u in common),
                    )
                )
    interval = stratified_sequence(strata, alpha=0.05, one_sided="lower", shared=shared)
    n = sum(s.canary.n + s.control.n for s in strata)
    nr2 = n * mixture_rho(0.05) ** 2
    expected = math.sqrt(
        max(se2, 0.0) * 2 * (nr2 + 1) / nr2 * math.log(1 + math.sqrt(nr2 + 1) / 0.1)
    )
    assert interval.halfwidth == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_a_returning_harsh_user_widens_the_interval() -> None:
    # The same users rate in both steps, the harsh ones harshly each time: their two steps'
    # values move together, so the steps are not independent evidence.
    step = Stratum(ArmStats.from_values([0.0, 1.0] * 50), ArmStats.from_values([0.0, 1.0] * 500))
    same_canary = SharedUnits((0, "canary"), (1, "canary"), 100, 50.0, 50.0, 50.0)
    independent = stratified_sequence([step, step], alpha=0.05, one_sided="lower")
    returning = stratified_sequence(
        [step, step], alpha=0.05, one_sided="lower", shared=[same_canary]
    )
    assert returning.halfwidth > independent.halfwidth
    # A user who moved from the control side to the canary pulls Δ̂ both ways: narrower.
    moved = SharedUnits((0, "control"), (1, "canary"), 100, 50.0, 50.0, 50.0)
    assert stratified_sequence(
        [step, step], alpha=0.05, one_sided="lower", shared=[moved]
    ).halfwidth < (independent.halfwidth)


# --- sample-ratio mismatch --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "p"), [(0.0, 1.0), (-1.0, 1.0), (3.841458820694124, 0.05), (10.827566170662733, 0.001)]
)
def test_chi2_survival_function(x: float, p: float) -> None:
    assert chi2_sf_1dof(x) == pytest.approx(p, rel=1e-9)


def test_chi2_rejects_nan() -> None:
    with pytest.raises(InvalidInputError):
        chi2_sf_1dof(math.nan)


def test_balanced_arms_are_healthy() -> None:
    result = sample_ratio(1030, 1000)
    assert result.checked and not result.mismatch
    assert result.chi2 == pytest.approx(30**2 / 2030)
    assert "ok" in result.reason


def test_mismatch_is_flagged() -> None:
    result = sample_ratio(1200, 1000)
    assert result.mismatch
    assert result.chi2 == pytest.approx(200**2 / 2200)
    assert result.p_value < 0.001
    assert "sample-ratio mismatch" in result.reason
    assert result.to_dict()["mismatch"] is True


def test_unequal_expected_share() -> None:
    assert not sample_ratio(2000, 1000, expected_share=2 / 3).mismatch
    assert sample_ratio(2000, 1000).mismatch


def test_too_few_units_are_not_checked() -> None:
    result = sample_ratio(7, 0)
    assert not result.checked and not result.mismatch and result.p_value == 1.0
    assert "need 8 per arm" in result.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"canary": -1, "control": 5},
        {"canary": 5, "control": 5, "expected_share": 1.0},
        {"canary": 5, "control": 5, "threshold": 0.0},
    ],
)
def test_sample_ratio_rejects_bad_input(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        sample_ratio(**kwargs)  # type: ignore[arg-type]


# --- purity -----------------------------------------------------------------------------------


def test_statistics_import_no_numeric_or_io_library() -> None:
    code = (
        "import sys, promptstage.rollout.analysis.statistics\n"
        "bad = {'numpy', 'scipy', 'httpx', 'sqlalchemy', 'socket', 'sqlite3'} & set(sys.modules)\n"
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
