"""Variance reduction on pre-release history (issue 15): detection and the null, by simulation.

Units are users with their own thumbs-down propensity (mean 10 %, intra-user correlation 0.5);
each has 20 rated calls before the release (its history X) and rates once during it (Y). The
correlation of X and Y is then 0.5 / sqrt(0.5 + 0.5 / 20) = 0.69 where nothing changed (about
0.59 on a canary whose rate rose to 13 %, as the Bernoulli variance grows with the rate). A 5 % canary, 2,000 rated
units per look over all traffic, the default guardrails' error budget (error_rate, its fast
path, thumbs_down seen before the start, and the reserve: thumbs_down at 0.05 / 2.6).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.rollout.analysis.cuped import CovariateSums, adjust
from promptstage.rollout.analysis.statistics import Guardrail, MetricStats, evaluate
from promptstage.service.release_metrics import start_budget

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")

LOOKS = 100
PER_LOOK = 2_000
CANARY = PER_LOOK * 500 // 10_000
THUMBS = Guardrail("thumbs_down", "increase")
BUDGET = start_budget(None, ["thumbs_down"])
ICC = 0.5
HISTORY = 20


def cells(rng: np.random.Generator, releases: int, lift: float) -> np.ndarray:
    """Cumulative sums ``[release, look, side, (n, Σy, Σy², Σx, Σx², Σxy)]``."""
    a, b = 0.10 * (1 - ICC) / ICC, 0.90 * (1 - ICC) / ICC
    out = np.zeros((releases, LOOKS, 2, 6))
    for side, size, k in ((0, CANARY, lift), (1, PER_LOOK - CANARY, 0.0)):
        p = rng.beta(a, b, size=(releases, LOOKS, size))
        x = rng.binomial(HISTORY, p) / HISTORY
        # lift: the mean thumbs-down rate rises by ``lift`` points, each user's in proportion
        # to the room above it (p + lift (1 - p) / 0.9 keeps every p in [0, 1])
        y = (rng.random(p.shape) < p + k * (1 - p) / 0.9).astype(float)
        per_look = np.stack(
            [
                np.full(p.shape[:2], size),
                y.sum(-1),
                y.sum(-1),
                x.sum(-1),
                (x * x).sum(-1),
                (x * y).sum(-1),
            ],
            axis=-1,
        )
        out[:, :, side, :] = per_look.cumsum(axis=1)
    return out


def detections(sums: np.ndarray, *, cuped: bool) -> list[int | None]:
    """Canary units at the first rollback per release (None: never)."""
    found: list[int | None] = []
    for release in sums:
        at = None
        for look in release:
            t, c = (
                CovariateSums(int(s[0]), s[1], s[2], int(s[0]), s[3], s[4], s[5], s[1])
                for s in look
            )
            if not cuped:
                t = CovariateSums(t.n, t.total, t.total_sq)
                c = CovariateSums(c.n, c.total, c.total_sq)
            (stratum,), _ = adjust([(t, c)])
            stats = MetricStats(stratum.canary, stratum.control, strata=(stratum,))
            if evaluate([THUMBS], {"thumbs_down": stats}, budget=BUDGET).decision == "rollback":
                at = int(look[0][0])
                break
        found.append(at)
    return found


def test_cuped_detects_thumbs_down_10_to_13_percent_within_900_canary_units() -> None:
    sums = cells(np.random.default_rng(1509), 200, 0.03)
    plain = detections(sums, cuped=False)
    adjusted = detections(sums, cuped=True)
    caught = [d for d in adjusted if d is not None]
    median = float(np.median(caught))
    plain_median = float(np.median([d for d in plain if d is not None]))
    print(
        f"\n[sim] thumbs-down 10->13 %, 5 % canary, default budget, history rho 0.69: "
        f"median {median:.0f} rated canary units with CUPED, {plain_median:.0f} without; "
        f"caught {len(caught) / len(adjusted):.1%}"
    )
    assert len(caught) / len(adjusted) >= 0.99
    assert median <= 900, median
    assert median < plain_median


def test_cuped_keeps_the_null_under_5_percent_over_100_looks() -> None:
    sums = cells(np.random.default_rng(1510), 400, 0.0)
    found = detections(sums, cuped=True)
    rate = sum(d is not None for d in found) / len(found)
    print(f"\n[sim] null with CUPED, 100 looks: false rollbacks {rate:.1%} of {len(found)}")
    assert rate <= 0.05


@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.booleans()), min_size=30, max_size=80),
    st.floats(-2, 2),
)
def test_adjustment_keeps_the_difference_when_history_is_balanced(
    units: list[tuple[float, float, bool]], shift: float
) -> None:
    # The same units on both sides, the canary's values shifted: the adjusted difference is
    # the shift exactly (θ is common, X̄ is the same on both sides).
    def sums(offset: float) -> CovariateSums:
        ys = [y + offset for y, _, _ in units]
        xs = [(x, y + offset) for y, x, h in units if h]
        return CovariateSums(
            len(ys),
            math.fsum(ys),
            math.fsum(y * y for y in ys),
            len(xs),
            math.fsum(x for x, _ in xs),
            math.fsum(x * x for x, _ in xs),
            math.fsum(x * y for x, y in xs),
            math.fsum(y for _, y in xs),
        )

    (stratum,), info = adjust([(sums(shift), sums(0.0))], min_history=2)
    assert stratum.canary.mean - stratum.control.mean == pytest.approx(shift, abs=1e-9)
    assert -1.0 <= info.rho <= 1.0
    assert stratum.canary.variance >= 0 and stratum.control.variance >= 0
