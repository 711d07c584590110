"""Seeded simulations of whole releases through the controller's statistics (SPEC §7).

Each simulated release is a sequence of looks; between looks, new units arrive in the canary and
in the equal-size analysis control arm (bucketing.py), one rated call each, and every look runs
:func:`promptstage.rollout.statistics.evaluate` on the cumulative per-arm sums, exactly as the
controller will. numpy draws the per-look binomial / multinomial sums (a test-only dependency;
``src/`` stays stdlib). Each test prints its figure (run with ``-s`` to see them) and puts it in
its assertion message; docs/releases.md records them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from promptstage.rollout.statistics import (
    ArmStats,
    CallStats,
    Guardrail,
    MetricStats,
    evaluate,
    sample_ratio,
)

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")

LOOKS = 100
RATED_PER_LOOK = 2_000
"""Rated units per look over all traffic; an arm at weight w gets ``RATED_PER_LOOK * w``."""
RAMP_WEIGHTS = np.array([500] * 25 + [2_500] * 25 + [5_000] * 50)
"""5 % -> 25 % -> 50 %, then 100 % (promotion, no control arm left to compare with)."""
CANARY_WEIGHTS = np.full(LOOKS, 500)
CSAT_VALUES = np.arange(1, 6)

THUMBS = Guardrail("thumbs_down", "increase")
ERRORS = Guardrail("error_rate", "increase", fast_threshold=0.20, fast_min_calls=50)
CSAT = Guardrail("csat", "decrease")


def arm_sizes(weights: np.ndarray, per_look: int = RATED_PER_LOOK) -> np.ndarray:
    """New units per arm at each look."""
    return per_look * weights // 10_000


@dataclass(frozen=True)
class Arms:
    """Cumulative sums of one metric over ``releases x looks`` (units are shared by metrics)."""

    sum_t: np.ndarray
    sumsq_t: np.ndarray
    sum_c: np.ndarray
    sumsq_c: np.ndarray
    fast_path_calls: bool = False


def binary(
    rng: np.random.Generator, releases: int, sizes: np.ndarray, p_t: np.ndarray, p_c: np.ndarray
) -> Arms:
    """0/1 per unit (thumbs-down, a unit's one call erroring)."""
    t = rng.binomial(sizes, p_t, size=(releases, len(sizes))).cumsum(axis=1)
    c = rng.binomial(sizes, p_c, size=(releases, len(sizes))).cumsum(axis=1)
    return Arms(t, t, c, c)


def ratings(
    rng: np.random.Generator,
    releases: int,
    sizes: np.ndarray,
    probs_t: np.ndarray,
    probs_c: np.ndarray,
) -> Arms:
    """1-5 ratings per unit; ``probs_*`` are ``looks x 5`` category probabilities."""
    out = []
    for probs in (probs_t, probs_c):
        total = np.zeros((releases, len(sizes)))
        total_sq = np.zeros((releases, len(sizes)))
        for look, size in enumerate(sizes):
            counts = rng.multinomial(size, probs[look], size=releases)
            total[:, look] = counts @ CSAT_VALUES
            total_sq[:, look] = counts @ CSAT_VALUES**2
        out += [total.cumsum(axis=1), total_sq.cumsum(axis=1)]
    return Arms(*out)


@dataclass(frozen=True)
class Outcome:
    look: int
    canary_units: int
    fast_path: bool


def run(
    guardrails: Sequence[Guardrail],
    sizes: np.ndarray,
    arms: Mapping[str, Arms],
    *,
    control_sizes: np.ndarray | None = None,
) -> list[Outcome | None]:
    """Run every release through ``evaluate`` look by look; the first rollback ends it."""
    n_t = sizes.cumsum()
    n_c = (sizes if control_sizes is None else control_sizes).cumsum()
    releases = next(iter(arms.values())).sum_t.shape[0]
    outcomes: list[Outcome | None] = []
    for r in range(releases):
        outcome = None
        for look in range(len(sizes)):
            stats = {}
            for name, a in arms.items():
                t, c = int(n_t[look]), int(n_c[look])
                canary = ArmStats.from_sums(t, float(a.sum_t[r, look]), float(a.sumsq_t[r, look]))
                control = ArmStats.from_sums(c, float(a.sum_c[r, look]), float(a.sumsq_c[r, look]))
                calls = CallStats(t, canary.mean) if a.fast_path_calls else None
                stats[name] = MetricStats(canary, control, calls)
            result = evaluate(guardrails, stats)
            if result.decision == "rollback":
                fast = any(g.fast_path for g in result.results)
                outcome = Outcome(look + 1, int(n_t[look]), fast)
                break
        outcomes.append(outcome)
    return outcomes


def summary(name: str, outcomes: list[Outcome | None]) -> tuple[float, float | None]:
    caught = [o for o in outcomes if o is not None]
    rate = len(caught) / len(outcomes)
    median = float(np.median([o.canary_units for o in caught])) if caught else None
    print(
        f"\n[sim] {name}: rollback in {rate:.1%} of {len(outcomes)} releases; median canary units at rollback: {median}"
    )
    return rate, median


def drifting(looks: int, start: float, end: float, swing: float) -> np.ndarray:
    """A base rate drifting linearly with a daily (24-look) swing, shared by both arms."""
    t = np.arange(looks)
    return start + (end - start) * t / (looks - 1) + swing * np.sin(2 * np.pi * t / 24)


def csat_probs(mean_shift: float, looks: int = LOOKS) -> np.ndarray:
    """1-5 rating probabilities: mean 4.0, variance ~1.2, mean moved down by ``mean_shift``."""
    base = np.array([0.05, 0.05, 0.13, 0.38, 0.39])  # mean 4.01, variance 1.17
    worse = np.array([0.08, 0.08, 0.18, 0.38, 0.28])  # mean 3.70, variance 1.41
    mix = mean_shift / 0.31
    return np.tile((1 - mix) * base + mix * worse, (looks, 1))


def test_csat_distributions_are_realistic() -> None:
    for shift, mean in ((0.0, 4.0), (0.3, 3.7)):
        p = csat_probs(shift)[0]
        assert p.sum() == pytest.approx(1.0)
        m = float(p @ CSAT_VALUES)
        assert m == pytest.approx(mean, abs=0.02)
        assert float(p @ CSAT_VALUES**2) - m * m == pytest.approx(1.25, abs=0.2)


# --- under no real difference -----------------------------------------------------------------


def null_release_arms(
    rng: np.random.Generator, releases: int, sizes: np.ndarray
) -> dict[str, Arms]:
    thumbs = drifting(LOOKS, 0.08, 0.12, 0.015)
    errors = drifting(LOOKS, 0.015, 0.025, 0.005)
    csat_drift = np.linspace(0.0, 0.2, LOOKS)  # satisfaction slides for everyone
    csat = np.array([csat_probs(s, 1)[0] for s in csat_drift])
    err = binary(rng, releases, sizes, errors, errors)
    return {
        "thumbs_down": binary(rng, releases, sizes, thumbs, thumbs),
        "error_rate": Arms(err.sum_t, err.sumsq_t, err.sum_c, err.sumsq_c, fast_path_calls=True),
        "csat": ratings(rng, releases, sizes, csat, csat),
    }


def test_null_ramp_with_drift_single_guardrail_false_rollbacks_at_most_5_percent() -> None:
    rng = np.random.default_rng(20240601)
    sizes = arm_sizes(RAMP_WEIGHTS)
    rate, _ = summary(
        "null, ramp 5/25/50 %, drifting thumbs-down 8->12 %, 1 guardrail at alpha 0.05, 100 looks",
        run([THUMBS], sizes, {"thumbs_down": null_release_arms(rng, 1_000, sizes)["thumbs_down"]}),
    )
    assert rate <= 0.05, f"false rollback rate {rate:.1%} > 5 %"


def test_null_ramp_with_drift_three_guardrails_false_rollbacks_at_most_5_percent() -> None:
    rng = np.random.default_rng(20240602)
    sizes = arm_sizes(RAMP_WEIGHTS)
    outcomes = run([THUMBS, ERRORS, CSAT], sizes, null_release_arms(rng, 1_000, sizes))
    rate, _ = summary(
        "null, ramp 5/25/50 %, drift in all 3 metrics, 3 guardrails (Bonferroni) + fast path, 100 looks",
        outcomes,
    )
    assert rate <= 0.05, f"family-wise false rollback rate {rate:.1%} > 5 %"
    assert not any(o is not None and o.fast_path for o in outcomes), (
        "the fast path fired under the null"
    )


# --- real regressions ---------------------------------------------------------------------------


def test_thumbs_down_10_to_13_percent_at_5_percent_canary() -> None:
    rng = np.random.default_rng(20240603)
    sizes = arm_sizes(CANARY_WEIGHTS)  # 100 rated canary units per look, 100 control
    p_t, p_c = np.full(LOOKS, 0.13), np.full(LOOKS, 0.10)
    rate, median = summary(
        "thumbs-down 10->13 %, 5 % canary, equal-size control (100 + 100 rated units/look)",
        run([THUMBS], sizes, {"thumbs_down": binary(rng, 400, sizes, p_t, p_c)}),
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    # The equal-size control arm doubles the control's share of Var(Δ̂) compared with using the
    # other 95 % of traffic as control; see the next test for that layout.
    assert median is not None and median <= 2_000, f"median canary units {median} > 2,000"


def test_thumbs_down_10_to_13_percent_with_the_rest_of_traffic_as_control() -> None:
    # shared/reference/rollouts.md §8 layout: canary 5 % of each batch, control the other 95 %.
    # It reported a median of 1,040 canary units; this checks the implementation agrees.
    rng = np.random.default_rng(20240604)
    sizes = arm_sizes(CANARY_WEIGHTS)
    rest = np.full(LOOKS, RATED_PER_LOOK) - sizes
    p_t, p_c = np.full(LOOKS, 0.13), np.full(LOOKS, 0.10)
    t = rng.binomial(sizes, p_t, size=(400, LOOKS)).cumsum(axis=1)
    c = rng.binomial(rest, p_c, size=(400, LOOKS)).cumsum(axis=1)
    rate, median = summary(
        "thumbs-down 10->13 %, 5 % canary vs the other 95 % (rollouts.md §8 layout)",
        run([THUMBS], sizes, {"thumbs_down": Arms(t, t, c, c)}, control_sizes=rest),
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 1_250, f"median canary units {median} > 1,250"


def test_thumbs_down_10_to_15_percent_is_caught() -> None:
    rng = np.random.default_rng(20240605)
    sizes = arm_sizes(CANARY_WEIGHTS)
    p_t, p_c = np.full(LOOKS, 0.15), np.full(LOOKS, 0.10)
    rate, median = summary(
        "thumbs-down 10->15 % (SPEC example), 5 % canary, equal-size control",
        run([THUMBS], sizes, {"thumbs_down": binary(rng, 400, sizes, p_t, p_c)}),
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 1_000, f"median canary units {median}"


def test_csat_4_0_to_3_7_is_caught() -> None:
    rng = np.random.default_rng(20240606)
    sizes = arm_sizes(CANARY_WEIGHTS, per_look=400)  # 20 rated canary units per look
    arms = ratings(rng, 400, sizes, csat_probs(0.31), csat_probs(0.0))
    rate, median = summary(
        "CSAT 4.0->3.7 (variance ~1.2-1.4), 5 % canary, 20 + 20 rated units/look",
        run([CSAT], sizes, {"csat": arms}),
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 600, f"median canary units {median}"


def test_three_guardrails_still_catch_thumbs_down_10_to_13_percent() -> None:
    rng = np.random.default_rng(20240607)
    sizes = arm_sizes(CANARY_WEIGHTS)
    arms = null_release_arms(rng, 300, sizes)
    hurt = binary(rng, 300, sizes, np.full(LOOKS, 0.13), np.full(LOOKS, 0.10))
    rate, median = summary(
        "thumbs-down 10->13 % among 3 guardrails (alpha/3 each), 5 % canary, equal-size control",
        run([THUMBS, ERRORS, CSAT], sizes, {**arms, "thumbs_down": hurt}),
    )
    assert rate >= 0.95, f"caught only {rate:.1%}"
    assert median is not None and median <= 2_500, f"median canary units {median}"


def test_error_spike_is_caught_by_the_fast_path_on_the_first_look() -> None:
    rng = np.random.default_rng(20240608)
    sizes = arm_sizes(CANARY_WEIGHTS)  # 100 canary calls by the first look
    err = binary(rng, 300, sizes, np.full(LOOKS, 0.35), np.full(LOOKS, 0.02))
    arms = {
        "error_rate": Arms(err.sum_t, err.sumsq_t, err.sum_c, err.sumsq_c, fast_path_calls=True)
    }
    outcomes = run([ERRORS, THUMBS, CSAT], sizes, arms)
    summary("error rate 2->35 %, fast path at 20 % over >= 50 calls", outcomes)
    looks = [o.look if o else None for o in outcomes]
    assert all(o is not None and o.look == 1 and o.fast_path for o in outcomes), looks


# --- sample ratio -------------------------------------------------------------------------------


def srm_flags(rng: np.random.Generator, releases: int, share: float) -> list[int | None]:
    """First look at which the sample-ratio check flags, per release (None: never)."""
    pairs = arm_sizes(RAMP_WEIGHTS) * 2
    canary = rng.binomial(pairs, share, size=(releases, LOOKS)).cumsum(axis=1)
    control = pairs.cumsum() - canary
    first: list[int | None] = []
    for r in range(releases):
        flagged = None
        for look in range(LOOKS):
            if sample_ratio(int(canary[r, look]), int(control[r, look])).mismatch:
                flagged = look + 1
                break
        first.append(flagged)
    return first


def test_sample_ratio_check_rarely_flags_healthy_releases() -> None:
    flags = srm_flags(np.random.default_rng(20240609), 500, 0.5)
    rate = sum(f is not None for f in flags) / len(flags)
    print(
        f"\n[sim] SRM null, 100 looks, p < 0.001 per look: flagged {rate:.1%} of healthy releases"
    )
    assert rate <= 0.05, f"sample-ratio check flagged {rate:.1%} of healthy releases"


def test_sample_ratio_check_catches_a_lossy_arm() -> None:
    # The control arm loses 5 % of its units (e.g. a logging bug): canary share 1 / 1.95.
    flags = srm_flags(np.random.default_rng(20240610), 300, 1 / 1.95)
    caught = [f for f in flags if f is not None]
    median = float(np.median(caught)) if caught else None
    print(
        f"\n[sim] SRM, control loses 5 % of units: flagged {len(caught) / len(flags):.1%}, median look {median}"
    )
    assert len(caught) == len(flags)
