"""The anytime-valid sample-ratio test across all arms (issue 15, reproduction 5).

The χ² check at p < 0.001 repeated at every look flagged 1.0-2.3 % of healthy releases over 100
looks, more with more looks, and compared the canary with the control arm only. The sequential
multinomial test (Lindon & Malek 2022) keeps its level however many looks, and sees units lost
from the rest of the baseline.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.srm import (
    dirichlet_multinomial_log_bf,
    sample_ratio,
    sequential_sample_ratio,
)

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")

SHARES = {"canary": 0.05, "control": 0.05, "baseline": 0.90}


def first_flags(
    seed: int, releases: int, looks: int, lose: str | None, *, per_look: int = 2_000
) -> tuple[list[int | None], list[int | None]]:
    """First look flagged by the sequential test and by the repeated χ², per release."""
    rng = np.random.default_rng(seed)
    arms = list(SHARES)
    p = np.array([SHARES[a] * (0.95 if a == lose else 1.0) for a in arms])
    p /= p.sum()
    seq: list[int | None] = []
    chi: list[int | None] = []
    for _ in range(releases):
        counts = rng.multinomial(per_look, p, size=looks).cumsum(axis=0)
        s = c = None
        for look in range(looks):
            x = dict(zip(arms, (int(v) for v in counts[look]), strict=True))
            if s is None and sequential_sample_ratio([x], [SHARES]).mismatch:
                s = look + 1
            if c is None and sample_ratio(x["canary"], x["control"]).mismatch:
                c = look + 1
            if s is not None and c is not None:
                break
        seq.append(s)
        chi.append(c)
    return seq, chi


def rate(flags: list[int | None]) -> float:
    return sum(f is not None for f in flags) / len(flags)


def test_repro_5_healthy_releases_over_1000_looks_stay_at_the_level() -> None:
    seq, chi = first_flags(1505, 60, 1_000, None, per_look=200)
    print(
        f"\n[sim] SRM null, 1,000 looks: sequential {rate(seq):.1%}, repeated chi2 {rate(chi):.1%}"
    )
    assert rate(seq) == 0.0  # level 0.001: 0 of 60 expected


def test_repro_5_repeated_chi2_exceeds_its_level_where_the_sequential_test_does_not() -> None:
    seq, chi = first_flags(1506, 400, 100, None)
    print(f"\n[sim] SRM null, 100 looks: sequential {rate(seq):.1%}, repeated chi2 {rate(chi):.1%}")
    assert rate(seq) <= 0.005
    assert rate(chi) > 0.001 * 5  # repeated at every look, chi2 is well above its 0.1 %


def test_units_lost_from_the_rest_of_the_baseline_are_seen() -> None:
    seq, chi = first_flags(1507, 60, 100, "baseline")
    print(f"\n[sim] SRM, baseline loses 5 %: sequential {rate(seq):.1%}, chi2 {rate(chi):.1%}")
    assert rate(seq) >= 0.9
    assert rate(chi) <= 0.05  # invisible to the canary-vs-control check


def test_a_lossy_control_arm_is_caught() -> None:
    seq, _ = first_flags(1508, 60, 100, "control")
    print(f"\n[sim] SRM, control loses 5 %: sequential {rate(seq):.1%}")
    assert rate(seq) >= 0.5


@given(
    st.lists(st.integers(0, 500), min_size=2, max_size=4),
    st.floats(10.0, 1e6),
)
def test_the_bayes_factor_averages_to_one_under_the_shares(counts: list[int], c: float) -> None:
    # E[BF] = 1 under θ₀ for one arrival: Σ θ_i · BF(e_i) = 1 from any state, the martingale
    # step. Checked from a state ``counts`` with equal shares.
    theta = [1.0 / len(counts)] * len(counts)
    base = dirichlet_multinomial_log_bf(counts, theta, c)
    step = 0.0
    for i in range(len(counts)):
        nxt = list(counts)
        nxt[i] += 1
        step += theta[i] * math.exp(dirichlet_multinomial_log_bf(nxt, theta, c) - base)
    assert step == pytest.approx(1.0, rel=1e-6)


def test_bad_input_and_the_unchecked_case() -> None:
    with pytest.raises(InvalidInputError):
        sequential_sample_ratio([{"canary": 1}], [{"canary": 0.6, "control": 0.6}])
    with pytest.raises(InvalidInputError):
        sequential_sample_ratio([{"canary": 1}], [])
    small = sequential_sample_ratio(
        [{"canary": 3, "control": 2}], [{"canary": 0.5, "control": 0.5}]
    )
    assert not small.checked and not small.mismatch
    zero = sequential_sample_ratio(
        [{"canary": 50, "control": 50, "baseline": 3}],
        [{"canary": 0.5, "control": 0.5, "baseline": 0.0}],
    )
    assert zero.mismatch and zero.to_dict()["log_bayes_factor"] == 1e300
