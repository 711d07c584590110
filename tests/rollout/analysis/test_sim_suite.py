"""The simulation suite of issue 15: false rollbacks with Wilson intervals, detection beside
GrowthBook's formula, on the same seeded data.

Fast form (``make test``): a few hundred releases per row. Full form (``make sim``, or
``PROMPTSTAGE_SIM=full``): thousands, and every null must have its upper Wilson bound <= 6 %.
Run with ``-s`` to see the table; docs/releases.md records the full form's figures.

What is compared, per look, on data drawn once per configuration:

* **promptstage**: :func:`~promptstage.rollout.analysis.statistics.evaluate` as the controller
  runs it: the canary against every unit on the baseline version, stratified by ramp step, at
  the default guardrails' error budget (``error_rate`` + its fast path + ``thumbs_down`` seen
  before the start + the reserve: ``thumbs_down`` at 0.05 / 2.6), the fast path on the calls
  since the previous look.
* **GrowthBook's formula**: the same one-sided asymptotic confidence sequence (eq. 134,
  n* = 5 000) at alpha = 0.05 with no correction, on the canary against its equal-size control
  arm, as GrowthBook's safe rollouts compare them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from promptstage.rollout.analysis.fastpath import CallSums, Window
from promptstage.rollout.analysis.statistics import (
    ArmStats,
    Guardrail,
    MetricStats,
    Stratum,
    confidence_sequence,
    evaluate,
)
from promptstage.service.release_metrics import default_error_guardrail, start_budget

np = pytest.importorskip("numpy", reason="the simulations need numpy (the dev extra installs it)")

FULL = os.environ.get("PROMPTSTAGE_SIM") == "full"
NULL_RELEASES = 2_000 if FULL else 150
DETECT_RELEASES = 1_000 if FULL else 100
BUDGET = start_budget(None, ["thumbs_down", "latency_ms"])
THUMBS = Guardrail("thumbs_down", "increase")
LATENCY = Guardrail("latency_ms", "increase")
ERRORS = default_error_guardrail()


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Config:
    """Per look: units arriving per arm, and how a unit's value is drawn."""

    looks: int
    per_look: int
    weights: np.ndarray  # canary weight (bps) per look
    draw: Callable[[np.random.Generator, int, int, bool], np.ndarray]  # (rng, look, n, canary)


def _sums(values: np.ndarray) -> tuple[float, float]:
    return float(values.sum()), float((values * values).sum())


def simulate(
    cfg: Config, guard: Guardrail, seed: int, releases: int
) -> tuple[list[int | None], list[int | None], list[int | None]]:
    """Run every release; returns canary units at the first rollback (ours, GrowthBook) and
    the look of our first rollback."""
    rng = np.random.default_rng(seed)
    steps = np.cumsum(np.r_[0, np.diff(cfg.weights) != 0])
    ours: list[int | None] = []
    gb: list[int | None] = []
    looks_at: list[int | None] = []
    for _ in range(releases):
        cells: dict[tuple[int, str], list[float]] = {}
        arm_ctl = [0, 0.0, 0.0]
        found_ours = found_gb = look_ours = None
        canary_total = 0
        for look in range(cfg.looks):
            w = int(cfg.weights[look]) / 10_000
            n_t = round(cfg.per_look * w)
            n_rest = cfg.per_look - 2 * n_t
            t = cfg.draw(rng, look, n_t, True)
            c_arm = cfg.draw(rng, look, n_t, False)
            rest = cfg.draw(rng, look, max(n_rest, 0), False)
            step = int(steps[look])
            for side, vals in (("t", t), ("c", np.concatenate([c_arm, rest]))):
                cell = cells.setdefault((step, side), [0, 0.0, 0.0])
                s, ss = _sums(vals)
                cell[0] += len(vals)
                cell[1] += s
                cell[2] += ss
            s, ss = _sums(c_arm)
            arm_ctl = [arm_ctl[0] + n_t, arm_ctl[1] + s, arm_ctl[2] + ss]
            canary_total += n_t
            strata = tuple(
                Stratum(
                    ArmStats.from_sums(int(cells[(k, "t")][0]), *cells[(k, "t")][1:]),
                    ArmStats.from_sums(int(cells[(k, "c")][0]), *cells[(k, "c")][1:]),
                )
                for k in range(step + 1)
            )
            window = None
            if guard.fast_threshold is not None:
                ct = np.concatenate([c_arm, rest])
                window = Window(
                    CallSums(len(t), *_sums(t)), CallSums(len(ct), *_sums(ct)), tests=look
                )
            canary = ArmStats.from_sums(
                sum(int(v[0]) for (k, sd), v in cells.items() if sd == "t"),
                sum(v[1] for (k, sd), v in cells.items() if sd == "t"),
                sum(v[2] for (k, sd), v in cells.items() if sd == "t"),
            )
            control = ArmStats.from_sums(
                sum(int(v[0]) for (k, sd), v in cells.items() if sd == "c"),
                sum(v[1] for (k, sd), v in cells.items() if sd == "c"),
                sum(v[2] for (k, sd), v in cells.items() if sd == "c"),
            )
            if found_ours is None:
                stats = MetricStats(canary, control, strata=strata, window=window)
                if evaluate([guard], {guard.metric: stats}, budget=BUDGET).decision == "rollback":
                    found_ours, look_ours = canary_total, look + 1
            if found_gb is None and canary.n >= 100 and arm_ctl[0] >= 100:
                iv = confidence_sequence(
                    canary,
                    ArmStats.from_sums(int(arm_ctl[0]), arm_ctl[1], arm_ctl[2]),
                    alpha=0.05,
                    one_sided="lower" if guard.harmful == "increase" else "upper",
                )
                if iv.lower > 0:
                    found_gb = canary_total
            if found_ours is not None and found_gb is not None:
                break
        ours.append(found_ours)
        gb.append(found_gb)
        looks_at.append(look_ours)
    return ours, gb, looks_at


def binary(rate: Callable[[int, bool], float]) -> Callable[..., np.ndarray]:
    return lambda rng, look, n, canary: (rng.random(n) < rate(look, canary)).astype(float)


def drift(looks: int, start: float, end: float, swing: float) -> np.ndarray:
    t = np.arange(looks)
    return start + (end - start) * t / max(looks - 1, 1) + swing * np.sin(2 * np.pi * t / 24)


def lognormal(scale: float) -> Callable[..., np.ndarray]:
    # heavy-tailed latency: median 800 ms, sigma 1.2 (mean ~1,650 ms, p99 ~13 s)
    return lambda rng, look, n, canary: (
        800.0 * (scale if canary else 1.0) * rng.lognormal(0.0, 1.2, n)
    )


RAMP = np.array([500] * 25 + [2_500] * 25 + [5_000] * 50)
THUMBS_DRIFT = drift(100, 0.08, 0.12, 0.015)

NULLS: dict[str, tuple[Config, Guardrail]] = {
    "ramp 5/25/50 %, drifting thumbs-down": (
        Config(100, 2_000, RAMP, binary(lambda k, _: float(THUMBS_DRIFT[k]))),
        THUMBS,
    ),
    "1 % canary": (Config(100, 2_000, np.full(100, 100), binary(lambda k, _: 0.1)), THUMBS),
    "5 % canary": (Config(100, 2_000, np.full(100, 500), binary(lambda k, _: 0.1)), THUMBS),
    "50 % split": (Config(100, 2_000, np.full(100, 5_000), binary(lambda k, _: 0.1)), THUMBS),
    "heavy-tailed latency (lognormal sigma 1.2)": (
        Config(100, 2_000, np.full(100, 500), lognormal(1.0)),
        LATENCY,
    ),
    "sparse ratings (40 rated units per look)": (
        Config(100, 40, np.full(100, 2_500), binary(lambda k, _: 0.1)),
        THUMBS,
    ),
    "15 % error rate on both arms (fast path + CS)": (
        Config(100, 2_000, np.full(100, 500), binary(lambda k, _: 0.15)),
        ERRORS,
    ),
    "1,000 looks": (Config(1_000, 200, np.full(1_000, 500), binary(lambda k, _: 0.1)), THUMBS),
}

DETECTIONS: dict[str, tuple[Config, Guardrail]] = {
    "thumbs-down 10 -> 13 %": (
        Config(100, 2_000, np.full(100, 500), binary(lambda k, c: 0.13 if c else 0.10)),
        THUMBS,
    ),
    "error rate 1 -> 2 %": (
        Config(200, 2_000, np.full(200, 500), binary(lambda k, c: 0.02 if c else 0.01)),
        ERRORS,
    ),
    "latency +10 %": (Config(200, 2_000, np.full(200, 500), lognormal(1.10)), LATENCY),
    "error spike 2 -> 35 % from look 50 (100 canary calls per look)": (
        Config(100, 2_000, np.full(100, 500), binary(lambda k, c: 0.35 if c and k >= 50 else 0.02)),
        ERRORS,
    ),
}


@pytest.mark.parametrize("name", list(NULLS))
def test_null_false_rollbacks_with_wilson_intervals(name: str) -> None:
    cfg, guard = NULLS[name]
    releases = NULL_RELEASES if cfg.looks <= 100 else max(NULL_RELEASES // 5, 50)
    ours, gb, _ = simulate(cfg, guard, 1_600 + list(NULLS).index(name), releases)
    k = sum(x is not None for x in ours)
    low, high = wilson(k, releases)
    k_gb = sum(x is not None for x in gb)
    print(
        f"\n[sim] null {name}: {k / releases:.1%} false rollbacks of {releases} "
        f"(Wilson 95 % {low:.1%}-{high:.1%}); GrowthBook's formula vs the control arm "
        f"{k_gb / releases:.1%}"
    )
    assert k / releases <= 0.05
    if FULL:
        assert high <= 0.06


@pytest.mark.parametrize("name", list(DETECTIONS))
def test_detection_medians_beside_growthbook(name: str) -> None:
    cfg, guard = DETECTIONS[name]
    ours, gb, looks = simulate(cfg, guard, 1_700 + list(DETECTIONS).index(name), DETECT_RELEASES)
    caught = [x for x in ours if x is not None]
    caught_gb = [x for x in gb if x is not None]

    def fig(xs: list[int]) -> str:
        if not xs:
            return "never"
        return f"median {np.median(xs):.0f}, p90 {np.percentile(xs, 90):.0f}"

    print(
        f"\n[sim] {name}: caught {len(caught) / len(ours):.1%}, canary units {fig(caught)}; "
        f"GrowthBook's formula caught {len(caught_gb) / len(gb):.1%}, {fig(caught_gb)}"
    )
    assert len(caught) / len(ours) >= 0.9
    if name.startswith("error spike"):
        spike = [k for k in looks if k is not None]
        assert all(k == 51 for k in spike), sorted(set(spike))  # within one cadence


def test_null_returning_users_icc_half_with_wilson_interval() -> None:
    # 2,000 users rating ~100 times each across a 5/25/50 % ramp with drift, each with their
    # own propensity (intra-user correlation 0.5), covariance between steps included.
    from .test_simulation import returning_users_null_ramp

    releases = 400 if FULL else 30
    outcomes = returning_users_null_ramp(1_800, releases, icc=0.5)
    k = sum(o is not None for o in outcomes)
    low, high = wilson(k, releases)
    print(
        f"\n[sim] null returning users, ICC 0.5, ramp with drift: {k / releases:.1%} false "
        f"rollbacks of {releases} (Wilson 95 % {low:.1%}-{high:.1%})"
    )
    assert k / releases <= 0.05
    if FULL:
        assert high <= 0.06
