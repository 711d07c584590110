"""Seeded simulations of whole releases through the controller's statistics (SPEC §7).

Each simulated release is a sequence of looks. Between looks, new units arrive in every range of
the bucket space (bucketing.py) at its share of traffic: the canary ``[0, w)``, the equal-size
control arm ``[5000, 5000 + w)`` and the rest of the traffic on the baseline version; one rated
call each. Every look runs :func:`promptstage.rollout.analysis.statistics.evaluate` on the
cumulative
per-step sums, exactly as the controller does: per ramp step, the canary against every unit on
the baseline version in that step (control arm and baseline), or against the control arm alone
for a release with targeting rules. numpy draws the per-look binomial / multinomial sums (a
test-only dependency; ``src/`` stays stdlib). Each test prints its figure (run with ``-s`` to see
them) and puts it in its assertion message; docs/releases.md records them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from promptstage.rollout.analysis.fastpath import CallSums, Window
from promptstage.rollout.analysis.statistics import (
    ArmStats,
    CallStats,
    Guardrail,
    MetricStats,
    SharedUnits,
    Stratum,
    evaluate,
    sample_ratio,
)

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")

LOOKS = 100
RATED_PER_LOOK = 2_000
"""Rated units per look over all traffic; a range of weight w gets ``RATED_PER_LOOK * w``."""
RAMP_WEIGHTS = np.array([500] * 25 + [2_500] * 25 + [5_000] * 50)
"""5 % -> 25 % -> 50 %, then 100 % (promotion, no control arm left to compare with)."""
CANARY_WEIGHTS = np.full(LOOKS, 500)
CSAT_VALUES = np.arange(1, 6)

THUMBS = Guardrail("thumbs_down", "increase")
ERRORS = Guardrail(
    "error_rate", "increase", fast_threshold=0.20, fast_min_calls=50, fast_margin=0.05
)
CSAT = Guardrail("csat", "decrease")


@dataclass(frozen=True)
class Layout:
    """New units per look on each side of the comparison, and the ramp step of each look."""

    canary: np.ndarray
    compared: np.ndarray
    steps: np.ndarray

    @classmethod
    def of(
        cls, weights: np.ndarray, *, per_look: int = RATED_PER_LOOK, targeted: bool = False
    ) -> Layout:
        """The canary against the baseline version's units in each step (SPEC §3 ranges).

        ``targeted``: the release has targeting rules, so only the equal-size control arm is
        compared (the rest of the traffic mixes in users the rules do not match).
        """
        canary = per_look * weights // 10_000
        compared = canary if targeted else per_look - canary
        steps = np.cumsum(np.r_[0, np.diff(weights) != 0])
        return cls(canary, compared, steps)


@dataclass(frozen=True)
class Arms:
    """Per-look sums of one metric over ``releases x looks`` (units are shared by metrics)."""

    sum_t: np.ndarray
    sumsq_t: np.ndarray
    sum_c: np.ndarray
    sumsq_c: np.ndarray
    fast_path_calls: bool = False


def binary(
    rng: np.random.Generator, releases: int, layout: Layout, p_t: np.ndarray, p_c: np.ndarray
) -> Arms:
    """0/1 per unit (thumbs-down, a unit's one call erroring)."""
    t = rng.binomial(layout.canary, p_t, size=(releases, LOOKS))
    c = rng.binomial(layout.compared, p_c, size=(releases, LOOKS))
    return Arms(t, t, c, c)


def ratings(
    rng: np.random.Generator,
    releases: int,
    layout: Layout,
    probs_t: np.ndarray,
    probs_c: np.ndarray,
) -> Arms:
    """1-5 ratings per unit; ``probs_*`` are ``looks x 5`` category probabilities."""
    out = []
    for sizes, probs in ((layout.canary, probs_t), (layout.compared, probs_c)):
        total = np.zeros((releases, LOOKS))
        total_sq = np.zeros((releases, LOOKS))
        for look, size in enumerate(sizes):
            counts = rng.multinomial(size, probs[look], size=releases)
            total[:, look] = counts @ CSAT_VALUES
            total_sq[:, look] = counts @ CSAT_VALUES**2
        out += [total, total_sq]
    return Arms(*out)


@dataclass(frozen=True)
class Outcome:
    look: int
    canary_units: int
    fast_path: bool


def _step_sums(per_look: np.ndarray, steps: np.ndarray, look: int) -> list[np.ndarray]:
    """Cumulative sums up to ``look`` within each step reached so far (last axis = looks)."""
    return [
        per_look[..., : look + 1][..., steps[: look + 1] == s].sum(axis=-1)
        for s in range(steps[look] + 1)
    ]


def run(
    guardrails: Sequence[Guardrail], layout: Layout, arms: Mapping[str, Arms]
) -> list[Outcome | None]:
    """Run every release through ``evaluate`` look by look; the first rollback ends it."""
    releases = next(iter(arms.values())).sum_t.shape[0]
    outcomes: list[Outcome | None] = [None] * releases
    open_releases = set(range(releases))
    for look in range(LOOKS):
        n_t = [int(x) for x in _step_sums(layout.canary, layout.steps, look)]
        n_c = [int(x) for x in _step_sums(layout.compared, layout.steps, look)]
        sums = {
            name: [
                _step_sums(x, layout.steps, look) for x in (a.sum_t, a.sumsq_t, a.sum_c, a.sumsq_c)
            ]
            for name, a in arms.items()
        }
        for r in sorted(open_releases):
            stats = {}
            for name, a in arms.items():
                st, sst, sc, ssc = sums[name]
                strata = tuple(
                    Stratum(
                        ArmStats.from_sums(n_t[s], float(st[s][r]), float(sst[s][r])),
                        ArmStats.from_sums(n_c[s], float(sc[s][r]), float(ssc[s][r])),
                    )
                    for s in range(len(n_t))
                )
                canary = ArmStats.from_sums(
                    sum(n_t), float(sum(x[r] for x in st)), float(sum(x[r] for x in sst))
                )
                control = ArmStats.from_sums(
                    sum(n_c), float(sum(x[r] for x in sc)), float(sum(x[r] for x in ssc))
                )
                calls = CallStats(canary.n, canary.mean) if a.fast_path_calls else None
                window = (  # the fast path's window: the calls since the previous look
                    Window(
                        CallSums(
                            int(layout.canary[look]),
                            float(a.sum_t[r, look]),
                            float(a.sumsq_t[r, look]),
                        ),
                        CallSums(
                            int(layout.compared[look]),
                            float(a.sum_c[r, look]),
                            float(a.sumsq_c[r, look]),
                        ),
                        tests=look,
                    )
                    if a.fast_path_calls
                    else None
                )
                stats[name] = MetricStats(canary, control, calls, strata, window=window)
            result = evaluate(guardrails, stats)
            if result.decision == "rollback":
                fast = any(g.fast_path for g in result.results)
                outcomes[r] = Outcome(look + 1, sum(n_t), fast)
                open_releases.discard(r)
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


def null_release_arms(rng: np.random.Generator, releases: int, layout: Layout) -> dict[str, Arms]:
    thumbs = drifting(LOOKS, 0.08, 0.12, 0.015)
    errors = drifting(LOOKS, 0.015, 0.025, 0.005)
    csat_drift = np.linspace(0.0, 0.2, LOOKS)  # satisfaction slides for everyone
    csat = np.array([csat_probs(s, 1)[0] for s in csat_drift])
    err = binary(rng, releases, layout, errors, errors)
    return {
        "thumbs_down": binary(rng, releases, layout, thumbs, thumbs),
        "error_rate": Arms(err.sum_t, err.sumsq_t, err.sum_c, err.sumsq_c, fast_path_calls=True),
        "csat": ratings(rng, releases, layout, csat, csat),
    }


@pytest.mark.parametrize("targeted", [False, True], ids=["whole-baseline", "control-arm-only"])
def test_null_ramp_with_drift_single_guardrail_false_rollbacks_at_most_5_percent(
    targeted: bool,
) -> None:
    rng = np.random.default_rng(20240601)
    layout = Layout.of(RAMP_WEIGHTS, targeted=targeted)
    compared = "the control arm" if targeted else "the baseline version, per step"
    rate, _ = summary(
        f"null, ramp 5/25/50 %, drifting thumbs-down 8->12 %, vs {compared}, 1 guardrail, 100 looks",
        run(
            [THUMBS], layout, {"thumbs_down": null_release_arms(rng, 1_000, layout)["thumbs_down"]}
        ),
    )
    assert rate <= 0.05, f"false rollback rate {rate:.1%} > 5 %"


def test_null_ramp_with_drift_three_guardrails_false_rollbacks_at_most_5_percent() -> None:
    rng = np.random.default_rng(20240602)
    layout = Layout.of(RAMP_WEIGHTS)
    outcomes = run([THUMBS, ERRORS, CSAT], layout, null_release_arms(rng, 1_000, layout))
    rate, _ = summary(
        "null, ramp 5/25/50 %, drift in all 3 metrics, 3 guardrails (Bonferroni) + fast path, 100 looks",
        outcomes,
    )
    assert rate <= 0.05, f"family-wise false rollback rate {rate:.1%} > 5 %"
    assert not any(o is not None and o.fast_path for o in outcomes), (
        "the fast path fired under the null"
    )


def test_pooling_the_steps_would_roll_back_harmless_ramps() -> None:
    # Why the strata: the same null ramp, with the steps pooled into one comparison, mistakes the
    # drift for harm (rollouts.md §8 reported 100 % false rollbacks for this estimator).
    rng = np.random.default_rng(20240611)
    stratified = Layout.of(RAMP_WEIGHTS)
    pooled = Layout(stratified.canary, stratified.compared, np.zeros(LOOKS, dtype=int))
    arms = {"thumbs_down": null_release_arms(rng, 200, stratified)["thumbs_down"]}
    rate, _ = summary(
        "null, ramp with drift, steps pooled (NOT what the controller does)",
        run([THUMBS], pooled, arms),
    )
    assert rate >= 0.5, (
        f"pooled false rollbacks only {rate:.1%}: the simulation no longer shows the bias"
    )
    strat_rate, _ = summary("same data, stratified by step", run([THUMBS], stratified, arms))
    assert strat_rate <= 0.05


# --- real regressions ---------------------------------------------------------------------------


def thumbs_down_rise(
    name: str, seed: int, canary_rate: float, *, targeted: bool = False
) -> tuple[float, float | None]:
    """400 releases at a 5 % canary whose thumbs-down rate rises from 10 % to ``canary_rate``."""
    rng = np.random.default_rng(seed)
    layout = Layout.of(CANARY_WEIGHTS, targeted=targeted)
    p_t, p_c = np.full(LOOKS, canary_rate), np.full(LOOKS, 0.10)
    return summary(name, run([THUMBS], layout, {"thumbs_down": binary(rng, 400, layout, p_t, p_c)}))


def test_thumbs_down_10_to_13_percent_at_5_percent_canary() -> None:
    # The acceptance figure: median <= 1,250 rated canary units. Per look 100 canary units and
    # 1,900 on the baseline version (100 in the control arm, 1,800 elsewhere).
    rate, median = thumbs_down_rise(
        "thumbs-down 10->13 %, 5 % canary vs the baseline version (1,900 rated units/look)",
        20240603,
        0.13,
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 1_250, f"median canary units {median} > 1,250"


def test_thumbs_down_10_to_13_percent_with_targeting_rules() -> None:
    # Targeting rules leave only the equal-size control arm to compare with: its variance
    # counts as much as the canary's, so about 1.6x the canary units are needed.
    rate, median = thumbs_down_rise(
        "thumbs-down 10->13 %, 5 % canary vs the equal-size control arm only (targeting rules)",
        20240604,
        0.13,
        targeted=True,
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 2_000, f"median canary units {median} > 2,000"


def test_thumbs_down_10_to_15_percent_is_caught() -> None:
    rate, median = thumbs_down_rise(
        "thumbs-down 10->15 % (SPEC example), 5 % canary, even against the control arm only",
        20240605,
        0.15,
        targeted=True,
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 1_000, f"median canary units {median}"


def test_csat_4_0_to_3_7_is_caught() -> None:
    rng = np.random.default_rng(20240606)
    layout = Layout.of(CANARY_WEIGHTS, per_look=400)  # 20 rated canary units per look
    arms = ratings(rng, 400, layout, csat_probs(0.31), csat_probs(0.0))
    rate, median = summary(
        "CSAT 4.0->3.7 (variance ~1.2-1.4), 5 % canary, 20 + 380 rated units/look",
        run([CSAT], layout, {"csat": arms}),
    )
    assert rate >= 0.99, f"caught only {rate:.1%}"
    assert median is not None and median <= 600, f"median canary units {median}"


def test_three_guardrails_still_catch_thumbs_down_10_to_13_percent() -> None:
    rng = np.random.default_rng(20240607)
    layout = Layout.of(CANARY_WEIGHTS)
    arms = null_release_arms(rng, 300, layout)
    hurt = binary(rng, 300, layout, np.full(LOOKS, 0.13), np.full(LOOKS, 0.10))
    rate, median = summary(
        "thumbs-down 10->13 % among 3 guardrails (alpha/3 each), 5 % canary",
        run([THUMBS, ERRORS, CSAT], layout, {**arms, "thumbs_down": hurt}),
    )
    assert rate >= 0.95, f"caught only {rate:.1%}"
    assert median is not None and median <= 1_500, f"median canary units {median}"


def test_error_spike_is_caught_by_the_fast_path_on_the_first_look() -> None:
    rng = np.random.default_rng(20240608)
    layout = Layout.of(CANARY_WEIGHTS)  # 100 canary calls by the first look
    err = binary(rng, 300, layout, np.full(LOOKS, 0.35), np.full(LOOKS, 0.02))
    arms = {
        "error_rate": Arms(err.sum_t, err.sumsq_t, err.sum_c, err.sumsq_c, fast_path_calls=True)
    }
    outcomes = run([ERRORS, THUMBS, CSAT], layout, arms)
    summary("error rate 2->35 %, fast path at 20 % over >= 50 calls", outcomes)
    looks = [o.look if o else None for o in outcomes]
    assert all(o is not None and o.look == 1 and o.fast_path for o in outcomes), looks


# --- sample ratio -------------------------------------------------------------------------------


def srm_flags(rng: np.random.Generator, releases: int, share: float) -> list[int | None]:
    """First look at which the sample-ratio check flags, per release (None: never)."""
    pairs = Layout.of(RAMP_WEIGHTS, targeted=True).canary * 2
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


# --- returning users ----------------------------------------------------------------------------


def returning_users_null_ramp(
    seed: int, releases: int, users: int = 2_000, icc: float = 0.2
) -> list[Outcome | None]:
    """Null ramps where the same users come back at every step, some harsher than others.

    Each of ``users`` users has their own thumbs-down propensity (mean 10 %, intra-user
    correlation ``icc``), drifting for everyone like the other null simulations; 2,000 rated
    calls per look come from users drawn at random, so a user rates ~100 times over the release
    and appears in every step. Per step and side, a unit's value is the mean of its ratings in
    that step; units seen in two steps are passed as :class:`SharedUnits`, as the store does.
    """
    rng = np.random.default_rng(seed)
    layout = Layout.of(RAMP_WEIGHTS)
    drift = drifting(LOOKS, 0.08, 0.12, 0.015) / 0.10
    a, b = 0.10 * (1 - icc) / icc, 0.90 * (1 - icc) / icc
    outcomes: list[Outcome | None] = []
    for _ in range(releases):
        propensity = rng.beta(a, b, size=users)
        bucket = rng.integers(0, 10_000, size=users)
        sums = np.zeros((3, users))
        counts = np.zeros((3, users))
        outcome = None
        for look in range(LOOKS):
            step = layout.steps[look]
            who = rng.integers(0, users, size=RATED_PER_LOOK)
            np.add.at(sums[step], who, rng.random(RATED_PER_LOOK) < propensity[who] * drift[look])
            np.add.at(counts[step], who, 1)
            cells = {}
            for s in range(step + 1):
                seen = counts[s] > 0
                values = np.where(seen, sums[s] / np.maximum(counts[s], 1), 0.0)
                step_weight = RAMP_WEIGHTS[layout.steps == s][0]
                cells[(s, "canary")] = (seen & (bucket < step_weight), values)
                cells[(s, "control")] = (seen & (bucket >= step_weight), values)

            def arm(mask: np.ndarray, values: np.ndarray) -> ArmStats:
                x = values[mask]
                return ArmStats.from_sums(len(x), float(x.sum()), float((x * x).sum()))

            strata = tuple(
                Stratum(arm(*cells[(s, "canary")]), arm(*cells[(s, "control")]))
                for s in range(step + 1)
            )
            shared = []
            for (s1, side1), (m1, v1) in cells.items():
                for (s2, side2), (m2, v2) in cells.items():
                    both = m1 & m2
                    if s1 < s2 and both.any():
                        shared.append(
                            SharedUnits(
                                (s1, side1),
                                (s2, side2),
                                int(both.sum()),  # type: ignore[arg-type]
                                float(v1[both].sum()),
                                float(v2[both].sum()),
                                float((v1[both] * v2[both]).sum()),
                            )
                        )
            canary = ArmStats(sum(s.canary.n for s in strata), 0.0, 0.0)
            control = ArmStats(sum(s.control.n for s in strata), 0.0, 0.0)
            stats = MetricStats(canary, control, None, strata, tuple(shared))
            if evaluate([THUMBS], {"thumbs_down": stats}).decision == "rollback":
                outcome = Outcome(look + 1, canary.n, False)
                break
        outcomes.append(outcome)
    return outcomes


def test_null_ramp_with_returning_users_false_rollbacks_at_most_5_percent() -> None:
    rate, _ = summary(
        "null, ramp with drift, 2,000 returning users (ICC 0.2) rating in every step",
        returning_users_null_ramp(20240612, 200),
    )
    assert rate <= 0.05, f"false rollback rate {rate:.1%} > 5 %"
