"""From the store's per-arm sums to a look: guardrails, per-metric statistics, SRM, decision.

The arithmetic is :mod:`promptstage.rollout.analysis.statistics`; this module only chooses the
guardrails (the release's own, or the defaults) and feeds them the sums the store aggregated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from promptstage.domain.releases import (
    ArmSums,
    Release,
    ReleaseMetrics,
    SharedUnits,
    compared_arms,
    harmful_direction,
)
from promptstage.errors import InvalidInputError
from promptstage.rollout.analysis.budget import LATE_WEIGHT, ErrorBudget
from promptstage.rollout.analysis.cuped import CovariateSums, Cuped, adjust
from promptstage.rollout.analysis.fastpath import DEFAULT_FAST_MARGIN, CallSums, Window
from promptstage.rollout.analysis.srm import sequential_sample_ratio
from promptstage.rollout.analysis.statistics import (
    DEFAULT_ALPHA,
    DEFAULT_N_STAR,
    ArmStats,
    CallStats,
    Guardrail,
    Look,
    MetricStats,
    SampleRatio,
    Stratum,
    evaluate,
)

from .fast_window import FastWindow

BUILTIN_METRICS: Final = ("error_rate", "latency_ms", "cost")
MAX_GUARDRAILS: Final = 20
DEFAULT_FAST_ERROR_RATE: Final = 0.20

_EMPTY: Final = ArmStats(0, 0.0, 0.0)


def default_error_guardrail() -> Guardrail:
    """``error_rate``, harmful on increase, with the fast path: in the window, over >= 50 canary
    calls, above both 20 % and the control's rate + 5 points, and an exact binomial test."""
    return Guardrail(
        "error_rate",
        "increase",
        fast_threshold=DEFAULT_FAST_ERROR_RATE,
        fast_min_calls=50,
        fast_margin=DEFAULT_FAST_MARGIN,
    )


def _metric_name(value: Any, path: str) -> str:
    ok = (
        isinstance(value, str)
        and 0 < len(value) <= 128
        and value[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
    )
    if not ok:
        raise InvalidInputError(
            f"{path}: must be error_rate, latency_ms, cost or a score name (letters, digits, "
            "'.', '_' or '-', starting with a letter)",
            field=path,
        )
    return str(value)


def parse_guardrails(raw: Any) -> tuple[dict[str, Any], ...] | None:
    """Validate the request's ``guardrails`` and return their stored JSON form.

    ``None`` keeps the defaults (``error_rate`` plus every score name with data); ``[]`` means
    no guardrail at all (a purely time-based ramp). ``harmful`` may be omitted for a metric
    whose direction is known (see :func:`promptstage.domain.releases.harmful_direction`).
    """
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_GUARDRAILS:
        raise InvalidInputError(
            f"guardrails: must be a list of at most {MAX_GUARDRAILS} guardrail objects "
            '{"metric", "harmful", "tolerance"?, "min_units"?, "fast_threshold"?, "fast_min_calls"?}',
            field="guardrails",
        )
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"guardrails[{i}]"
        if not isinstance(item, dict):
            raise InvalidInputError(
                f"{path}: must be an object with metric and harmful", field=path
            )
        metric = _metric_name(item.get("metric"), f"{path}.metric")
        if metric in seen:
            raise InvalidInputError(
                f"{path}.metric: {metric!r} is guarded twice; keep one guardrail per metric",
                field=f"{path}.metric",
            )
        seen.add(metric)
        data = dict(item)
        data.setdefault("harmful", harmful_direction(metric))
        if metric == "error_rate" and "fast_threshold" not in data:
            data["fast_threshold"] = DEFAULT_FAST_ERROR_RATE
            data.setdefault("fast_margin", DEFAULT_FAST_MARGIN)
        for key in (
            "tolerance",
            "fast_threshold",
            "fast_margin",
        ):  # JSON numbers: keep the stored form a float
            if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
                data[key] = float(data[key])
        try:
            guard = Guardrail.from_dict(data)
        except (InvalidInputError, TypeError) as exc:
            sub = exc.field if isinstance(exc, InvalidInputError) and exc.field else None
            where = f"{path}.{sub}" if sub else path
            message = exc.message if isinstance(exc, InvalidInputError) else str(exc)
            raise InvalidInputError(f"{where}: {message}", field=where) from None
        out.append(guard.to_dict())
    return tuple(out)


def guardrails_for(release: Release, metrics: ReleaseMetrics) -> list[Guardrail]:
    """The guardrails of a look: the release's own, or ``error_rate`` + every score name in its
    error budget (seen on the baseline before the start) or with data."""
    if release.guardrails is not None:
        return [Guardrail.from_dict(g) for g in release.guardrails]
    guards = [default_error_guardrail()]
    names = set(metrics.metrics)
    if release.error_budget is not None:
        budget = ErrorBudget.from_dict(release.error_budget)
        names |= {n for n, _ in budget.tests if ":" not in n} | set(budget.late)
    for name in sorted(names - set(BUILTIN_METRICS)):
        guards.append(
            Guardrail(name, "increase" if harmful_direction(name) == "increase" else "decrease")
        )
    return guards


def start_budget(
    guardrails: Sequence[Mapping[str, Any]] | None,
    seen_scores: Iterable[str],
    *,
    alpha: float = DEFAULT_ALPHA,
) -> ErrorBudget:
    """The error budget a release starts with (fixed for its whole life).

    Args:
        guardrails: The release's declared guardrails (stored form), or ``None`` for the
            defaults.
        seen_scores: Score names logged on the baseline version before the start (used only
            for the defaults).
        alpha: The family-wise one-sided level.

    Returns:
        Declared: one confidence sequence per guardrail and one fast path per
        ``fast_threshold``. Defaults: ``error_rate`` and its fast path, each score name seen,
        and a reserve for score names that first appear during the release.
    """
    if guardrails is not None:
        return ErrorBudget.for_guardrails(
            ((str(g["metric"]), g.get("fast_threshold") is not None) for g in guardrails),
            alpha=alpha,
        )
    names = sorted(set(seen_scores) - set(BUILTIN_METRICS))[: MAX_GUARDRAILS - 1]
    return ErrorBudget.for_guardrails(
        [("error_rate", True), *((n, False) for n in names)], alpha=alpha, reserve=LATE_WEIGHT
    )


def budget_of(release: Release, guards: Sequence[Guardrail]) -> ErrorBudget:
    """The release's stored budget, with any new score name recorded as late; for a release
    started before budgets were stored, its guardrails' own split."""
    if release.error_budget is None:
        return ErrorBudget.for_guardrails(
            ((g.metric, g.fast_threshold is not None) for g in guards), alpha=DEFAULT_ALPHA
        )
    return ErrorBudget.from_dict(release.error_budget).with_late(g.metric for g in guards)


def _add(sums: Iterable[ArmSums | None]) -> ArmSums | None:
    """Sums over several arms or steps (units seen in two of them count twice)."""
    present = [x for x in sums if x is not None]
    if not present:
        return None
    return ArmSums(
        sum(x.units for x in present),
        sum(x.total for x in present),
        sum(x.total_sq for x in present),
        sum(x.calls for x in present),
        sum(x.call_total for x in present),
    )


def _arm(sums: ArmSums | None) -> ArmStats:
    if sums is None or sums.units == 0:
        return _EMPTY
    return ArmStats.from_sums(sums.units, sums.total, sums.total_sq)


def _window(metrics: ReleaseMetrics, name: str, tests: Mapping[str, int]) -> Window | None:
    sides = metrics.window.get(name)
    if sides is None and not metrics.window_read:
        return None
    sums = [CallSums(*(sides or {}).get(side, (0, 0.0, 0.0))) for side in ("canary", "control")]
    return Window(sums[0], sums[1], tests.get(name, 0))


def stats_by_metric(
    release: Release, metrics: ReleaseMetrics, tests: Mapping[str, int] | None = None
) -> dict[str, MetricStats]:
    """Per-metric statistics: the canary against :func:`compared_arms`, stratified by ramp step.

    Also the canary's per-call mean for the fast path, and the units seen in two steps (for
    the covariance between them). The pooled summaries (what the look shows) add the steps'
    units; ``min_units`` and the sequence's ``n`` count distinct units (a unit seen in two
    steps once). ``tests`` counts the fast path's earlier windows per metric.
    """
    compared = compared_arms(release)
    out: dict[str, MetricStats] = {}
    for name, steps in metrics.metrics.items():
        order = sorted(steps)
        canary_steps = [steps[s].get("canary") for s in order]
        control_steps = [_add(steps[s].get(a) for a in compared) for s in order]
        canary = _add(canary_steps)
        try:
            strata = tuple(
                Stratum(_arm(t), _arm(c)) for t, c in zip(canary_steps, control_steps, strict=True)
            )
            shared = _shared(metrics.cross.get(name, ()), order, compared)
            cuped: Cuped | None = None
            if name in metrics.history and not shared:
                strata, cuped = _cuped(metrics, name, order, compared, canary_steps, control_steps)
            out[name] = MetricStats(
                _arm(canary),
                _arm(_add(control_steps)),
                (
                    CallStats(canary.calls, canary.call_total / canary.calls)
                    if canary is not None and canary.calls
                    else None
                ),
                strata,
                shared,
                _window(metrics, name, tests or {}),
                _distinct(metrics, name),
                cuped,
            )
        except InvalidInputError:  # sums that cannot come from real values: treat as no data
            continue
    return out


def _cuped(
    metrics: ReleaseMetrics,
    name: str,
    order: list[int],
    compared: tuple[str, ...],
    canary_steps: list[ArmSums | None],
    control_steps: list[ArmSums | None],
) -> tuple[tuple[Stratum, ...], Cuped]:
    """The strata adjusted on the units' pre-release history (:mod:`.cuped`)."""
    history = metrics.history.get(name, {})

    def cell(sums: ArmSums | None, step: int, arms: tuple[str, ...]) -> CovariateSums:
        found = [history.get(step, {}).get(a) for a in arms]
        h = [sum(x[i] for x in found if x is not None) for i in range(5)]
        if sums is None:
            return CovariateSums(0, 0.0, 0.0)
        return CovariateSums(sums.units, sums.total, sums.total_sq, int(h[0]), *h[1:])

    cells = [
        (cell(t, s, ("canary",)), cell(c, s, compared))
        for s, t, c in zip(order, canary_steps, control_steps, strict=True)
    ]
    return adjust(cells)


def _distinct(metrics: ReleaseMetrics, name: str) -> tuple[int, int] | None:
    sides = metrics.distinct.get(name)
    if sides is None:
        return None
    return (sides.get("canary", 0), sides.get("control", 0))


def _shared(
    cross: Iterable[SharedUnits], order: list[int], compared: tuple[str, ...]
) -> tuple[SharedUnits, ...]:
    """The store's ``(step, arm)`` cells as the statistics' ``(stratum index, side)`` cells.

    The control side is every compared arm, so the sums of its arms are added together.
    """
    position = {step: i for i, step in enumerate(order)}
    totals: dict[tuple[tuple[int, str], tuple[int, str]], list[float]] = {}
    for c in cross:
        cells = []
        for step, arm in (c.first, c.second):
            if step not in position or (arm != "canary" and arm not in compared):
                break
            cells.append((position[step], "canary" if arm == "canary" else "control"))
        else:
            acc = totals.setdefault((cells[0], cells[1]), [0.0, 0.0, 0.0, 0.0])
            for i, value in enumerate((c.units, c.total_first, c.total_second, c.total_product)):
                acc[i] += value
    return tuple(
        SharedUnits(first, second, int(units), a, b, ab)
        for (first, second), (units, a, b, ab) in sorted(totals.items())
    )


@dataclass(frozen=True, slots=True)
class Analysis:
    """One evaluation of a release: its guardrails, the look, and the arms' unit counts."""

    guardrails: Sequence[Guardrail]
    look: Look
    srm: SampleRatio
    units: dict[str, int]
    window: FastWindow | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON stored with a look and shown by ``GET /releases/{id}/analysis``."""
        return {
            **self.look.to_dict(),
            "units": {
                "canary": self.units.get("canary", 0),
                "control": self.units.get("control", 0),
            },
            "fast_window_state": self.window.next_state(self.look) if self.window else None,
        }


def srm_of(release: Release, metrics: ReleaseMetrics) -> SampleRatio:
    """The anytime-valid sample-ratio test over the analysed arms, each unit counted once.

    In the first step, units first seen there against the shares canary ``w``, control ``w``
    and the rest of the unit-keyed traffic ``1 - 2w`` (canary and control only, 1/2 each, with
    targeting rules, whose rest also holds users the rules do not match, or when the rest
    logged no unit at all: clients that log only the two analysed arms). In later steps, units
    first seen there in the canary against the control arm, 1/2 each: those two ranges are
    equal at every weight, so a call served at the previous step's weight just after an
    advance (an SDK that has not heard of it yet) cannot unbalance them, while it would the
    rest's share.
    """
    strata: list[dict[str, int]] = []
    shares: list[dict[str, float]] = []
    rest = sum(counts.get("baseline", 0) for counts in metrics.first_seen.values())
    whole = "baseline" in compared_arms(release) and rest > 0
    for step, counts in sorted(metrics.first_seen.items()):
        w = min(release.steps[min(step, len(release.steps) - 1)].weight_bps, 5000) / 10000
        if step == 0 and whole and w < 0.5:
            expected = {"canary": w, "control": w, "baseline": 1.0 - 2 * w}
        else:
            expected = {"canary": 0.5, "control": 0.5}
        strata.append({a: n for a, n in counts.items() if a in expected})
        shares.append(expected)
    return sequential_sample_ratio(strata, shares)


def analyse(
    release: Release,
    metrics: ReleaseMetrics,
    *,
    n_star: float = DEFAULT_N_STAR,
    window: FastWindow | None = None,
) -> Analysis:
    """Evaluate every guardrail of ``release`` on its cumulative metrics (no side effects).

    ``window`` is the fast path's window the metrics were read with (``None``: the fast path
    is not tested).
    """
    guards = guardrails_for(release, metrics)
    srm = srm_of(release, metrics)
    look = evaluate(
        guards,
        stats_by_metric(release, metrics, window.tests if window else None),
        n_star=n_star,
        srm=srm,
        budget=budget_of(release, guards),
    )
    return Analysis(guards, look, srm, dict(metrics.units), window)
