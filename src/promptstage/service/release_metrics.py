"""From the store's per-arm sums to a look: guardrails, per-metric statistics, SRM, decision.

The arithmetic is :mod:`promptstage.rollout.analysis.statistics`; this module only chooses the
guardrails (the release's own, or the defaults) and feeds them the sums the store aggregated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
from promptstage.rollout.analysis.statistics import (
    DEFAULT_N_STAR,
    ArmStats,
    CallStats,
    Guardrail,
    Look,
    MetricStats,
    SampleRatio,
    Stratum,
    evaluate,
    sample_ratio,
)

BUILTIN_METRICS: Final = ("error_rate", "latency_ms", "cost")
MAX_GUARDRAILS: Final = 20
DEFAULT_FAST_ERROR_RATE: Final = 0.20

_EMPTY: Final = ArmStats(0, 0.0, 0.0)


def default_error_guardrail() -> Guardrail:
    """``error_rate``, harmful on increase, with the fast path at 20 % over >= 50 calls."""
    return Guardrail(
        "error_rate", "increase", fast_threshold=DEFAULT_FAST_ERROR_RATE, fast_min_calls=50
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
        for key in ("tolerance", "fast_threshold"):  # JSON numbers: keep the stored form a float
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
    """The guardrails of a look: the release's own, or ``error_rate`` + every score with data."""
    if release.guardrails is not None:
        return [Guardrail.from_dict(g) for g in release.guardrails]
    guards = [default_error_guardrail()]
    for name in sorted(metrics.metrics):
        if name not in BUILTIN_METRICS:
            guards.append(
                Guardrail(name, "increase" if harmful_direction(name) == "increase" else "decrease")
            )
    return guards


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


def stats_by_metric(release: Release, metrics: ReleaseMetrics) -> dict[str, MetricStats]:
    """Per-metric statistics: the canary against :func:`compared_arms`, stratified by ramp step.

    Also the canary's per-call mean for the fast path, and the units seen in two steps (for
    the covariance between them). The pooled summaries (what the look shows and ``min_units``
    counts) add the steps' units, so a unit seen in two steps counts in each.
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
            out[name] = MetricStats(
                _arm(canary),
                _arm(_add(control_steps)),
                (
                    CallStats(canary.calls, canary.call_total / canary.calls)
                    if canary is not None and canary.calls
                    else None
                ),
                strata,
                _shared(metrics.cross.get(name, ()), order, compared),
            )
        except InvalidInputError:  # sums that cannot come from real values: treat as no data
            continue
    return out


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

    def to_dict(self) -> dict[str, Any]:
        """The JSON stored with a look and shown by ``GET /releases/{id}/analysis``."""
        return {
            **self.look.to_dict(),
            "units": {
                "canary": self.units.get("canary", 0),
                "control": self.units.get("control", 0),
            },
        }


def analyse(
    release: Release, metrics: ReleaseMetrics, *, n_star: float = DEFAULT_N_STAR
) -> Analysis:
    """Evaluate every guardrail of ``release`` on its cumulative metrics (no side effects)."""
    guards = guardrails_for(release, metrics)
    srm = sample_ratio(metrics.units.get("canary", 0), metrics.units.get("control", 0))
    look = evaluate(guards, stats_by_metric(release, metrics), n_star=n_star, srm=srm)
    return Analysis(guards, look, srm, dict(metrics.units))
