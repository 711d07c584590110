"""Per-arm summaries and the one-sided anytime-valid confidence sequence (SPEC §7).

The method, its formula and every choice are explained in
:mod:`promptstage.rollout.analysis.statistics`; this module holds the arithmetic. In short,
for Δ = mean(canary) - mean(control)::

    Δ̂   = x̄_canary - x̄_control
    SE² = s²_canary / n_canary + s²_control / n_control          (Welch)
    n   = n_canary + n_control,   sigma2 = n · SE²

or, over ramp steps (strata) s with canary weights λ_s = n_canary,s / Σ n_canary,s::

    Δ̂   = Σ λ_s (x̄_canary,s - x̄_control,s)
    SE² = Σ λ_s² (s²_canary,s / n_canary,s + s²_control,s / n_control,s)
          + 2 Σ (covariance of two cells' weighted means through the units they share)
    n   = Σ (n_canary,s + n_control,s)
    rho = sqrt((-2 ln(2 alpha) + ln(1 - 2 ln(2 alpha))) / n*)
    hw  = sqrt(sigma2 · 2(n rho² + 1) / (n² rho²) · ln(1 + sqrt(n rho² + 1) / (2 alpha)))

    side "lower": [Δ̂ - hw, +inf)        side "upper": (-inf, Δ̂ + hw]

Only ``math`` is used, so the controller and the SDK can import it without numpy or scipy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from promptstage.domain.releases import SharedUnits
from promptstage.errors import InvalidInputError

__all__ = [
    "DEFAULT_N_STAR",
    "ArmStats",
    "Interval",
    "SharedUnits",
    "Side",
    "Stratum",
    "confidence_sequence",
    "mixture_rho",
    "stratified_sequence",
]

Side = Literal["lower", "upper"]
"""Which bound a one-sided sequence gives: ``"lower"`` bounds Δ from below, ``"upper"`` above."""

DEFAULT_N_STAR: Final = 5_000
"""Tuning parameter n*: total units (both arms) at which the sequence is tightest (GrowthBook)."""

_REL_TOL: Final = 1e-9


def _finite(value: float, field: str) -> float:
    """Return ``value`` as a float, or raise if it is NaN or infinite."""
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{field} must be a finite number, got {value!r}", field=field)
    return number


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Summary of one arm for one metric: one value per analysis unit.

    The analysis unit is the bucketing unit (user, else conversation). A unit's value is its mean
    over its calls for that metric: the fraction of its calls that errored for ``error_rate``,
    its mean latency or cost, its mean score for a score name. Units with no value for a metric
    (no rated call) are missing for that metric, never zero.

    Attributes:
        n: Number of units.
        mean: Mean of the unit values (``0.0`` when ``n == 0``).
        variance: Unbiased sample variance (``n - 1`` denominator; ``0.0`` when ``n < 2``).
    """

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise InvalidInputError(f"n must be an integer >= 0, got {self.n!r}", field="n")
        _finite(self.mean, "mean")
        if _finite(self.variance, "variance") < 0:
            raise InvalidInputError(
                f"variance must be >= 0, got {self.variance!r}", field="variance"
            )

    @classmethod
    def from_values(cls, values: Iterable[float]) -> ArmStats:
        """Summarise per-unit values with Welford's one-pass algorithm.

        Args:
            values: One finite number per unit.

        Returns:
            The arm's ``n``, mean and unbiased sample variance.
        """
        n = 0
        mean = 0.0
        m2 = 0.0
        for value in values:
            x = _finite(value, "value")
            n += 1
            delta = x - mean
            mean += delta / n
            m2 += delta * (x - mean)
        return cls(n, mean, m2 / (n - 1) if n > 1 else 0.0)

    @classmethod
    def from_sums(cls, n: int, total: float, total_sq: float) -> ArmStats:
        """Summarise an arm from sums, as a SQL aggregate returns them.

        For per-unit values ``x_i`` the controller can run ``COUNT(*)``, ``SUM(x)`` and
        ``SUM(x * x)`` over the units of an arm and pass them here.

        Args:
            n: Number of units.
            total: Sum of the unit values.
            total_sq: Sum of the squared unit values.

        Returns:
            The arm's ``n``, mean and unbiased sample variance. Tiny negative variances from
            floating-point cancellation are clamped to 0.

        Raises:
            InvalidInputError: ``n`` is negative, a sum is not finite, or ``total_sq`` is
                smaller than ``total² / n`` beyond rounding (the sums cannot come from real
                values).
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(f"n must be an integer >= 0, got {n!r}", field="n")
        total = _finite(total, "total")
        total_sq = _finite(total_sq, "total_sq")
        if n == 0:
            return cls(0, 0.0, 0.0)
        mean = total / n
        if n == 1:
            return cls(1, mean, 0.0)
        centred = total_sq - total * mean
        if centred < -_REL_TOL * max(abs(total_sq), 1.0):
            raise InvalidInputError(
                f"total_sq {total_sq!r} is less than total²/n {total * mean!r}: the sums are not "
                "from one set of values",
                field="total_sq",
            )
        return cls(n, mean, max(centred, 0.0) / (n - 1))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a look."""
        return {"n": self.n, "mean": self.mean, "variance": self.variance}


@dataclass(frozen=True, slots=True)
class Interval:
    """A one-sided confidence sequence on Δ = mean(canary) - mean(control).

    Attributes:
        lower: Lower bound (``-inf`` for an ``"upper"`` sequence).
        upper: Upper bound (``+inf`` for a ``"lower"`` sequence).
        delta: The point estimate Δ̂.
        halfwidth: Distance from Δ̂ to the finite bound (``+inf`` when an arm has < 2 units).
        side: ``"lower"`` or ``"upper"``: which bound is finite.
        alpha: Error level of this sequence (after any Bonferroni split).
    """

    lower: float
    upper: float
    delta: float
    halfwidth: float
    side: Side
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a look; an open end is ``None`` (JSON has no infinity)."""

        def end(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "lower": end(self.lower),
            "upper": end(self.upper),
            "delta": self.delta,
            "halfwidth": end(self.halfwidth),
            "side": self.side,
            "alpha": self.alpha,
        }


def mixture_rho(alpha: float, n_star: float = DEFAULT_N_STAR) -> float:
    """Return the normal-mixture parameter rho tuned to be tightest at ``n_star`` units.

    One-sided form, as GrowthBook computes it (the two-sided formula evaluated at ``2*alpha``)::

        rho = sqrt((-2 ln(2*alpha) + ln(1 - 2 ln(2*alpha))) / n*)

    Args:
        alpha: One-sided error level, ``0 < alpha < 0.5``.
        n_star: Total units (both arms) at which the boundary is tightest.

    Returns:
        rho > 0.
    """
    if not 0.0 < alpha < 0.5:
        raise InvalidInputError(f"alpha must be in (0, 0.5), got {alpha!r}", field="alpha")
    if not (math.isfinite(n_star) and n_star > 0):
        raise InvalidInputError(f"n_star must be > 0, got {n_star!r}", field="n_star")
    log_2a = math.log(2.0 * alpha)
    return math.sqrt((-2.0 * log_2a + math.log(1.0 - 2.0 * log_2a)) / n_star)


@dataclass(frozen=True, slots=True)
class Stratum:
    """The two sides of the comparison within one stratum (one ramp step of a release).

    Attributes:
        canary: Per-unit summary of the canary in this step.
        control: Per-unit summary of the units on the baseline version in this step.
    """

    canary: ArmStats
    control: ArmStats


def confidence_sequence(
    canary: ArmStats,
    control: ArmStats,
    *,
    alpha: float,
    n_star: float = DEFAULT_N_STAR,
    one_sided: Side,
) -> Interval:
    """One-sided anytime-valid confidence sequence on Δ = mean(canary) - mean(control).

    The asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas
    (2021, "Time-uniform central limit theory and asymptotic confidence sequences",
    arXiv:2103.06476; the normal-mixture boundary SPEC §7 cites as their eq. 134), in the
    one-sided form GrowthBook's ``gbstats`` uses for safe rollouts
    (``SequentialOneSidedTreatment{Greater,Lesser}TTest``), with the Welch variance of Δ̂.
    See :mod:`promptstage.rollout.analysis.statistics` for the formula and the choices.

    Args:
        canary: Per-unit summary of the canary arm.
        control: Per-unit summary of the control arm.
        alpha: One-sided error level for this sequence (already divided by the number of
            guardrails when Bonferroni applies), ``0 < alpha < 0.5``.
        n_star: Tuning parameter n*, total units at which the sequence is tightest.
        one_sided: ``"lower"`` gives ``[Δ̂ - hw, +inf)`` (use it when an increase is
            harmful); ``"upper"`` gives ``(-inf, Δ̂ + hw]`` (when a decrease is harmful).

    Returns:
        The interval. With fewer than 2 units in either arm the variance is unknown and the
        interval is the whole line on the bounded side too (``halfwidth = +inf``). When both
        arms have zero variance the data carry no noise: ``halfwidth = 0`` and the finite
        bound is Δ̂ itself (the per-guardrail ``min_units`` gate guards small samples).
        Never NaN.
    """
    return stratified_sequence(
        [Stratum(canary, control)], alpha=alpha, n_star=n_star, one_sided=one_sided
    )


def stratified_sequence(
    strata: Sequence[Stratum],
    *,
    alpha: float,
    n_star: float = DEFAULT_N_STAR,
    one_sided: Side,
    shared: Iterable[SharedUnits] = (),
    units: int | None = None,
) -> Interval:
    """The confidence sequence of :func:`confidence_sequence` on a step-stratified Δ̂.

    Each stratum compares the canary with the baseline version *within one ramp step*, so a
    base rate drifting while the split changes cannot bias Δ̂. The strata's differences are
    weighted by their canary units (λ_s), which is what the equal-size control arm does
    implicitly; with one stratum this is exactly :func:`confidence_sequence`.

    Args:
        strata: One :class:`Stratum` per ramp step. A stratum where either side has fewer
            than 2 units has no known variance and is left out (it is the first moments of a
            new step); the weights are taken over the strata kept.
        alpha: One-sided error level for this sequence, ``0 < alpha < 0.5``.
        n_star: Tuning parameter n*, total units at which the sequence is tightest.
        one_sided: ``"lower"`` or ``"upper"``, as in :func:`confidence_sequence`.
        shared: Units seen in two strata, cells ``(stratum index, "canary" | "control")``
            (:class:`~promptstage.domain.releases.SharedUnits`). Their covariance terms are
            added to Var(Δ̂), the cluster-robust (per-unit) variance of the weighted sum; with
            no unit in two strata this is the Welch variance of each stratum, summed.
        units: The distinct units on both sides, for the boundary's ``n``. By default the
            strata's units are summed, which counts a unit seen in two steps twice.

    Returns:
        The interval; ``halfwidth = +inf`` when no stratum is kept. When no stratum has noise,
        ``halfwidth = 0``. Never NaN.
    """
    if one_sided not in ("lower", "upper"):
        raise InvalidInputError(
            f"one_sided must be 'lower' or 'upper', got {one_sided!r}", field="one_sided"
        )
    rho = mixture_rho(alpha, n_star)
    kept = [i for i, s in enumerate(strata) if s.canary.n >= 2 and s.control.n >= 2]
    canary_units = sum(strata[i].canary.n for i in kept)
    weights = {i: strata[i].canary.n / canary_units for i in kept}
    delta = se2 = 0.0
    n = 0
    for i, weight in weights.items():
        s = strata[i]
        delta += weight * (s.canary.mean - s.control.mean)
        se2 += weight * weight * (s.canary.variance / s.canary.n + s.control.variance / s.control.n)
        n += s.canary.n + s.control.n
    if not kept:  # no variance known: report the unweighted difference of whatever there is
        delta = _pooled_mean([s.canary for s in strata]) - _pooled_mean([s.control for s in strata])
        halfwidth = math.inf
    else:
        se2 += 2.0 * sum(_covariance(strata, weights, pair) for pair in shared)
        if units is not None:
            n = max(min(units, n), 2)
        halfwidth = _halfwidth(max(se2, 0.0), n, alpha, rho)
    if one_sided == "lower":
        return Interval(delta - halfwidth, math.inf, delta, halfwidth, "lower", alpha)
    return Interval(-math.inf, delta + halfwidth, delta, halfwidth, "upper", alpha)


def _covariance(strata: Sequence[Stratum], weights: dict[int, float], pair: SharedUnits) -> float:
    """Cov of two cells' weighted means through the units they share (0 if a stratum is left out).

    A cell's mean enters Δ̂ with the coefficient ``+λ_s / n`` (canary) or ``-λ_s / n``
    (control); the shared units' centred cross products are
    ``Σ v v' - mean' Σ v - mean Σ v' + units · mean · mean'``.
    """
    coefficients = []
    means = []
    for index, side in (pair.first, pair.second):
        if index not in weights:
            return 0.0
        arm = strata[index].canary if side == "canary" else strata[index].control
        sign = 1.0 if side == "canary" else -1.0
        coefficients.append(sign * weights[index] / arm.n)
        means.append(arm.mean)
    (m1, m2), (k1, k2) = means, coefficients
    centred = (
        pair.total_product - m2 * pair.total_first - m1 * pair.total_second + pair.units * m1 * m2
    )
    return k1 * k2 * centred


def _pooled_mean(arms: Iterable[ArmStats]) -> float:
    """Mean over the units of several summaries (``0.0`` without units)."""
    units = total = 0.0
    for arm in arms:
        units += arm.n
        total += arm.n * arm.mean
    return total / units if units else 0.0


def _halfwidth(se2: float, n: int, alpha: float, rho: float) -> float:
    """Half-width of the one-sided normal-mixture boundary for Var(Δ̂) = ``se2`` over ``n`` units."""
    if se2 == 0.0:
        return 0.0
    nr2 = n * rho * rho
    sigma2 = se2 * n
    return math.sqrt(
        sigma2
        * 2.0
        * (nr2 + 1.0)
        / (nr2 * n)
        * math.log(1.0 + math.sqrt(nr2 + 1.0) / (2.0 * alpha))
    )
