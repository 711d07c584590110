"""Guardrails and the decision of one look (SPEC §7).

A look takes every guardrail of a release and the cumulative per-arm statistics of its metric
since the release started, and says ``rollback``, ``advance_allowed`` or ``hold``, with a reason
per guardrail and overall. The rules are explained in
:mod:`promptstage.rollout.analysis.statistics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.budget import ErrorBudget, fast_name
from promptstage.rollout.analysis.cuped import Cuped
from promptstage.rollout.analysis.fastpath import FastTest, Window, fast_test
from promptstage.rollout.analysis.sequential import (
    DEFAULT_N_STAR,
    ArmStats,
    Interval,
    SharedUnits,
    Stratum,
    stratified_sequence,
)
from promptstage.rollout.analysis.srm import SampleRatio

__all__ = [
    "DEFAULT_ALPHA",
    "CallStats",
    "Guardrail",
    "GuardrailDecision",
    "GuardrailResult",
    "Harmful",
    "Look",
    "LookDecision",
    "MetricStats",
    "evaluate",
]

Harmful = Literal["increase", "decrease"]
GuardrailDecision = Literal["regressed", "ok", "insufficient"]
LookDecision = Literal["rollback", "advance_allowed", "hold"]

DEFAULT_ALPHA: Final = 0.05
"""Family-wise one-sided error level, split over the guardrails (Bonferroni)."""


def _num(x: float, *, sign: bool = False) -> str:
    """Format a metric value or difference for a reason sentence."""
    if not math.isfinite(x):
        return "+inf" if x > 0 else "-inf"
    plus = "+" if sign else ""
    size = abs(x)
    if size >= 100:
        return f"{x:{plus}.1f}"
    if size >= 0.01 or size == 0:
        return f"{x:{plus}.3f}"
    return f"{x:{plus}.3g}"


def _int_at_least(value: Any, minimum: int, field: str) -> None:
    """Raise unless ``value`` is an ``int`` (not a bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(
            f"{field} must be an integer >= {minimum}, got {value!r}", field=field
        )


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A metric that must not get worse on the canary.

    Attributes:
        metric: ``error_rate``, ``latency_ms``, ``cost`` or a score name (``thumbs_down``...).
        harmful: The direction that hurts: ``"increase"`` or ``"decrease"``.
        tolerance: δ >= 0, in the metric's units: a change smaller than δ in the harmful
            direction is accepted.
        min_units: Units needed in *each* arm before the guardrail can roll back or allow an
            advance (at least 2).
        fast_threshold: Absolute level of the canary's per-call mean that rolls back at once
            (above it for ``increase``, below it for ``decrease``); ``None`` for no fast path.
        fast_min_calls: Canary calls needed in the window before the fast path can fire.
        fast_margin: How far (metric units, >= 0) beyond the control's level in the same window
            the canary must be, besides beyond ``fast_threshold``
            (:mod:`~promptstage.rollout.analysis.fastpath`).
    """

    metric: str
    harmful: Harmful
    tolerance: float = 0.0
    min_units: int = 100
    fast_threshold: float | None = None
    fast_min_calls: int = 50
    fast_margin: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise InvalidInputError("metric must be a non-empty string", field="metric")
        if self.harmful not in ("increase", "decrease"):
            raise InvalidInputError(
                f"harmful must be 'increase' or 'decrease', got {self.harmful!r}", field="harmful"
            )
        if not (isinstance(self.tolerance, int | float) and math.isfinite(self.tolerance)) or (
            self.tolerance < 0
        ):
            raise InvalidInputError(
                f"tolerance must be a finite number >= 0, got {self.tolerance!r}", field="tolerance"
            )
        _int_at_least(self.min_units, 2, "min_units")
        if self.fast_threshold is not None and not (
            isinstance(self.fast_threshold, int | float) and math.isfinite(self.fast_threshold)
        ):
            raise InvalidInputError(
                f"fast_threshold must be a finite number or null, got {self.fast_threshold!r}",
                field="fast_threshold",
            )
        _int_at_least(self.fast_min_calls, 1, "fast_min_calls")
        if not (
            isinstance(self.fast_margin, int | float)
            and not isinstance(self.fast_margin, bool)
            and math.isfinite(self.fast_margin)
            and self.fast_margin >= 0
        ):
            raise InvalidInputError(
                f"fast_margin must be a finite number >= 0, got {self.fast_margin!r}",
                field="fast_margin",
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guardrail:
        """Build a guardrail from its JSON form (unknown keys are an error)."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(
                f"unknown guardrail field(s): {', '.join(sorted(unknown))}",
                field=sorted(unknown)[0],
            )
        for required in ("metric", "harmful"):
            if required not in data:
                raise InvalidInputError(f"guardrail needs {required!r}", field=required)
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a release."""
        return {
            "metric": self.metric,
            "harmful": self.harmful,
            "tolerance": self.tolerance,
            "min_units": self.min_units,
            "fast_threshold": self.fast_threshold,
            "fast_min_calls": self.fast_min_calls,
            "fast_margin": self.fast_margin,
        }


@dataclass(frozen=True, slots=True)
class CallStats:
    """Per-call summary of the canary for one metric, for the fast path.

    Attributes:
        calls: Canary calls with a value for the metric.
        mean: Mean per-call value (the error fraction for ``error_rate``).
    """

    calls: int
    mean: float

    def __post_init__(self) -> None:
        _int_at_least(self.calls, 0, "calls")
        if not math.isfinite(self.mean):
            raise InvalidInputError(f"mean must be finite, got {self.mean!r}", field="mean")


@dataclass(frozen=True, slots=True)
class MetricStats:
    """Cumulative statistics of one metric since the release started.

    Attributes:
        canary: Per-unit summary of the canary arm (over all steps).
        control: Per-unit summary of the side compared with it (over all steps).
        canary_calls: Per-call summary of the canary, for the fast path (optional).
        strata: The same two sides per ramp step; when given, Δ̂ and its variance are
            stratified by step
            (:func:`~promptstage.rollout.analysis.sequential.stratified_sequence`), otherwise
            ``canary`` is compared with ``control`` directly. ``canary`` and ``control`` are
            still what the ``min_units`` gate counts and the look shows.
        shared: Units seen in two strata, for the covariance of their means (see
            :class:`~promptstage.domain.releases.SharedUnits`).
        window: Both sides' calls over the fast path's window; without it the fast path is
            not tested (it never fires on the canary alone).
        units: Distinct units ``(canary, control)`` with a value, over all steps; what the
            ``min_units`` gate and the sequence's ``n`` count. ``None``: the pooled ``n`` of
            ``canary`` and ``control`` (right when no unit is in two steps).
        cuped: The variance reduction applied to ``strata``, if any (``canary`` and
            ``control`` stay the plain summaries).
    """

    canary: ArmStats
    control: ArmStats
    canary_calls: CallStats | None = None
    strata: tuple[Stratum, ...] = ()
    shared: tuple[SharedUnits, ...] = ()
    window: Window | None = None
    units: tuple[int, int] | None = None
    cuped: Cuped | None = None


@dataclass(frozen=True, slots=True)
class GuardrailResult:
    """What one look found for one guardrail.

    Attributes:
        guardrail: The guardrail.
        decision: ``"regressed"``, ``"ok"`` or ``"insufficient"``.
        reason: A sentence for the decision log and the UI.
        canary: Canary summary used (``n = 0`` when the metric had no data).
        control: Control summary used.
        interval: The confidence sequence at this guardrail's alpha (``None`` without data).
        fast_path: True when the fast path decided ``"regressed"``.
        canary_calls: The canary's cumulative per-call summary, if any.
        fast: The fast path's test of the window, when the guardrail has one and a window.
        window: The window it tested.
        units: Distinct units ``(canary, control)`` counted for ``min_units``.
        cuped: The variance reduction behind ``interval``, if any.
    """

    guardrail: Guardrail
    decision: GuardrailDecision
    reason: str
    canary: ArmStats
    control: ArmStats
    interval: Interval | None
    fast_path: bool
    canary_calls: CallStats | None
    fast: FastTest | None = None
    window: Window | None = None
    units: tuple[int, int] | None = None
    cuped: Cuped | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a look."""
        calls = self.canary_calls
        fast, window = self.fast, self.window
        return {
            "metric": self.guardrail.metric,
            "guardrail": self.guardrail.to_dict(),
            "decision": self.decision,
            "reason": self.reason,
            "canary": self.canary.to_dict(),
            "control": self.control.to_dict(),
            "interval": self.interval.to_dict() if self.interval else None,
            "fast_path": self.fast_path,
            "canary_calls": {"calls": calls.calls, "mean": calls.mean} if calls else None,
            "variance_reduction": self.cuped.to_dict() if self.cuped else None,
            "distinct_units": (
                {"canary": self.units[0], "control": self.units[1]} if self.units else None
            ),
            "fast_window": (
                {
                    "canary": window.canary.to_dict(),
                    "control": window.control.to_dict(),
                    "test_index": window.tests + 1,
                    "tested": fast.tested,
                    "fired": fast.fired,
                    "bar": fast.bar,
                    "p_value": fast.p_value,
                    "alpha": fast.alpha,
                    "method": fast.method,
                    "reason": fast.reason,
                }
                if fast is not None and window is not None
                else None
            ),
        }


@dataclass(frozen=True, slots=True)
class Look:
    """The decision of one look over all guardrails.

    Attributes:
        decision: ``"rollback"``, ``"advance_allowed"`` or ``"hold"``.
        reason: A sentence for the decision log and the UI.
        results: One result per guardrail, in the guardrails' order.
        alpha: The family-wise alpha, split over the tests by ``budget``.
        srm: The sample-ratio check, when one was passed.
        unhealthy: True when the sample ratio is mismatched: pause, promote nothing.
        budget: The error budget the guardrails' levels came from.
    """

    decision: LookDecision
    reason: str
    results: tuple[GuardrailResult, ...]
    alpha: float
    srm: SampleRatio | None = None
    unhealthy: bool = False
    budget: ErrorBudget | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored as the look's record."""
        return {
            "decision": self.decision,
            "reason": self.reason,
            "alpha": self.alpha,
            "unhealthy": self.unhealthy,
            "srm": self.srm.to_dict() if self.srm else None,
            "guardrails": [result.to_dict() for result in self.results],
            "error_budget": self.budget.to_dict() if self.budget else None,
        }


_EMPTY: Final = ArmStats(0, 0.0, 0.0)


def _fast(guardrail: Guardrail, window: Window | None, budget: ErrorBudget) -> FastTest | None:
    """The fast path's test of the window, when the guardrail has one and a window was read."""
    threshold = guardrail.fast_threshold
    if threshold is None or window is None:
        return None
    return fast_test(
        window,
        harmful=guardrail.harmful,
        threshold=threshold,
        margin=guardrail.fast_margin,
        min_calls=guardrail.fast_min_calls,
        alpha=budget.alpha_for(fast_name(guardrail.metric)),
        metric=guardrail.metric,
    )


def _judge(
    guardrail: Guardrail, stats: MetricStats | None, budget: ErrorBudget, n_star: float
) -> GuardrailResult:
    """Decide one guardrail at its level in the error budget."""
    metric = guardrail.metric
    alpha = budget.alpha_for(metric)
    if stats is None:
        return GuardrailResult(
            guardrail,
            "insufficient",
            f"no data for {metric} yet",
            _EMPTY,
            _EMPTY,
            None,
            False,
            None,
        )
    canary, control, calls = stats.canary, stats.control, stats.canary_calls
    fast = _fast(guardrail, stats.window, budget)
    units = stats.units or (canary.n, control.n)
    increase = guardrail.harmful == "increase"
    interval = stratified_sequence(
        stats.strata or (Stratum(canary, control),),
        alpha=alpha,
        n_star=n_star,
        one_sided="lower" if increase else "upper",
        shared=stats.shared,
        units=sum(units) if stats.units else None,
    )

    def result(decision: GuardrailDecision, reason: str, fired: bool = False) -> GuardrailResult:
        return GuardrailResult(
            guardrail,
            decision,
            reason,
            canary,
            control,
            interval,
            fired,
            calls,
            fast,
            stats.window,
            stats.units,
            stats.cuped,
        )

    if fast is not None and fast.fired:
        return result("regressed", fast.reason, True)
    arms = (
        f"canary {_num(canary.mean)} vs control {_num(control.mean)}, "
        f"Δ {_num(interval.delta, sign=True)}, {units[0]}/{units[1]} units"
    )
    if units[0] < guardrail.min_units or units[1] < guardrail.min_units:
        reason = (
            f"{metric}: canary has {units[0]} and control {units[1]} units, "
            f"need {guardrail.min_units} per arm"
        )
        return result("insufficient", reason)
    if increase:
        shown = f"[{_num(interval.lower, sign=True)}, +inf)"
    else:
        shown = f"(-inf, {_num(interval.upper, sign=True)}]"
    bound = (
        f"{_num(guardrail.tolerance if increase else -guardrail.tolerance, sign=True)} tolerance"
    )
    if increase and interval.lower > guardrail.tolerance:
        reason = f"interval {shown} lies above {bound}: {metric} increased ({arms})"
        return result("regressed", reason)
    if not increase and interval.upper < -guardrail.tolerance:
        reason = f"interval {shown} lies below {bound}: {metric} decreased ({arms})"
        return result("regressed", reason)
    side = "above" if increase else "below"
    reason = f"interval {shown} does not lie {side} {bound}: {metric} ok ({arms})"
    return result("ok", reason)


def evaluate(
    guardrails: Sequence[Guardrail],
    stats_by_metric: Mapping[str, MetricStats],
    *,
    alpha: float = DEFAULT_ALPHA,
    n_star: float = DEFAULT_N_STAR,
    srm: SampleRatio | None = None,
    budget: ErrorBudget | None = None,
) -> Look:
    """Decide one look of a release from its cumulative per-arm statistics.

    Args:
        guardrails: The release's guardrails.
        stats_by_metric: Cumulative statistics since the release started, by metric name. A
            guardrail whose metric is missing is ``"insufficient"``.
        alpha: Family-wise one-sided error level, used when no ``budget`` is given.
        n_star: Tuning parameter of the confidence sequences.
        srm: The sample-ratio check of this look, if made; a mismatch makes the look unhealthy.
        budget: The release's error budget, fixed at its start
            (:class:`~promptstage.rollout.analysis.budget.ErrorBudget`); by default the
            guardrails' own (each confidence sequence weighs 1, each fast path 0.1). A
            guardrail whose metric is not in it is added as a late name when the budget has a
            reserve.

    Returns:
        ``rollback`` when any guardrail regressed (fast path, or the whole interval beyond δ on
        the harmful side with ``min_units`` per arm); else ``hold`` when the sample ratio is
        mismatched or any guardrail lacks data; else ``advance_allowed``.
    """
    if not 0.0 < alpha < 0.5:
        raise InvalidInputError(f"alpha must be in (0, 0.5), got {alpha!r}", field="alpha")
    if budget is None:
        budget = ErrorBudget.for_guardrails(
            ((g.metric, g.fast_threshold is not None) for g in guardrails), alpha=alpha
        )
    alpha = budget.alpha
    budget = budget.with_late(g.metric for g in guardrails)
    results = tuple(_judge(g, stats_by_metric.get(g.metric), budget, n_star) for g in guardrails)
    unhealthy = srm is not None and srm.mismatch
    regressed = [r for r in results if r.decision == "regressed"]
    insufficient = [r for r in results if r.decision == "insufficient"]
    decision: LookDecision
    if regressed:
        decision = "rollback"
        reason = "rollback: " + "; ".join(r.reason for r in regressed)
    elif srm is not None and srm.mismatch:
        decision = "hold"
        reason = f"hold: unhealthy, {srm.reason}"
    elif insufficient:
        decision = "hold"
        reason = "hold: not enough data: " + "; ".join(r.reason for r in insufficient)
    elif results:
        decision = "advance_allowed"
        levels = ", ".join(_num(budget.alpha_for(g.metric)) for g in guardrails)
        reason = f"advance allowed: {len(results)} guardrail(s) ok at alpha {levels}"
    else:
        decision = "advance_allowed"
        reason = "advance allowed: the release has no guardrails"
    return Look(decision, reason, results, alpha, srm, unhealthy, budget)
