"""Releases as plain values: the release, its steps, its change history, its looks, its metrics.

A release moves one label from its current (**baseline**) version to a **candidate** version
under control (SPEC §2). The state machine and the statistics are pure functions in
:mod:`promptstage.rollout`; this module only holds the values the store reads and writes, and
parses the parts of a start request that do not need them (strategy, steps, unit attribute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from promptstage.errors import InvalidInputError

STRATEGIES: Final = ("canary", "ramp", "ab")
STATES: Final = ("running", "paused", "completed", "rolled_back", "aborted")
ACTIVE: Final = frozenset({"running", "paused"})

DEFAULT_CANARY_BPS: Final = 500
DEFAULT_AB_BPS: Final = 5000
DEFAULT_RAMP_BPS: Final = (500, 2500, 5000, 10000)
DEFAULT_MIN_DURATION_SECONDS: Final = 3600.0
DEFAULT_MIN_UNITS: Final = 100
DEFAULT_UNIT_ATTRIBUTE: Final = "user_id"
MAX_STEPS: Final = 20
MAX_DURATION_SECONDS: Final = 30 * 86400.0

CONTROLLER_ACTOR: Final = "system:release-controller"

ON_INSUFFICIENT_DATA: Final = ("rollback", "pause")
DEFAULT_ON_INSUFFICIENT_DATA: Final = "rollback"
# What the canary running on something its version did not pin does (docs/dependencies.md).
ON_DRIFT: Final = ("hold", "rollback", "ignore")
DEFAULT_ON_DRIFT: Final = "hold"


@dataclass(frozen=True, slots=True)
class ReleaseStep:
    """One step of a release: the candidate's share and what must hold before leaving it.

    Attributes:
        weight_bps: The candidate's share in basis points (500 = 5 %).
        min_duration_seconds: The least time the release stays at this step.
        min_units: Units needed in each analysed arm (canary and control, counted since the
            release started) before the release may leave this step.
    """

    weight_bps: int
    min_duration_seconds: float = DEFAULT_MIN_DURATION_SECONDS
    min_units: int = DEFAULT_MIN_UNITS

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the release and shown by the API."""
        return {
            "weight_bps": self.weight_bps,
            "min_duration_seconds": self.min_duration_seconds,
            "min_units": self.min_units,
        }


@dataclass(frozen=True, slots=True)
class Release:
    """A release of one (prompt, label).

    ``guardrails`` holds the JSON form of the guardrails asked for at creation, or ``None``
    when none were given (the controller then guards ``error_rate`` and every score name with
    data). ``flags`` holds health flags such as ``"srm"`` (sample-ratio mismatch).
    ``on_insufficient_data`` (``rollback`` or ``pause``) is what the controller does when a step
    reaches its bake deadline without enough data. ``error_budget`` is the JSON form of its
    :class:`~promptstage.rollout.analysis.budget.ErrorBudget`, fixed at the start (``None`` for
    releases started before migration 0009: their guardrails' own split is used).
    ``on_drift`` (``hold``, ``rollback`` or ``ignore``) is what the controller does while the
    candidate's calls report a model, index or tool it did not pin (``service/deps_drift``).
    """

    id: str
    project: str
    prompt: str
    label: str
    baseline_version: int
    candidate_version: int
    strategy: str
    steps: tuple[ReleaseStep, ...]
    step_index: int
    weight_bps: int
    state: str
    salt: str
    hash_version: int
    unit_attribute: str
    targeting: dict[str, Any] | None
    guardrails: tuple[dict[str, Any], ...] | None
    auto_rollback: bool
    flags: tuple[str, ...]
    reason: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    step_started_at: datetime
    ended_at: datetime | None = None
    on_insufficient_data: str = DEFAULT_ON_INSUFFICIENT_DATA
    error_budget: dict[str, Any] | None = None
    on_drift: str = DEFAULT_ON_DRIFT

    @property
    def active(self) -> bool:
        """Whether the release still splits traffic (running or paused)."""
        return self.state in ACTIVE

    @property
    def step(self) -> ReleaseStep:
        """The step the release is at."""
        return self.steps[self.step_index]


@dataclass(frozen=True, slots=True)
class ReleaseChange:
    """One entry of a release's history: who did what, from which state to which, and why."""

    release_id: str
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    step_index: int
    weight_bps: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReleaseLook:
    """One look of the controller: the statistics it saw, its decision and the action taken.

    Attributes:
        decision: The look's verdict (``rollback``, ``advance_allowed``, ``hold``).
        action: What the controller did (``rollback``, ``pause``, ``advance``, ``complete``,
            ``hold``).
        data: The look's full record: per-guardrail n, means, interval, decision, reason, and
            the sample-ratio check.
    """

    release_id: str
    at: datetime
    step_index: int
    weight_bps: int
    decision: str
    action: str
    reason: str
    data: dict[str, Any]
    id: int = 0


@dataclass(frozen=True, slots=True)
class ArmSums:
    """What SQL returns for one arm and one metric.

    Attributes:
        units: Units with a value for the metric.
        total: Sum of the per-unit means.
        total_sq: Sum of the squared per-unit means.
        calls: Calls (or scores) with a value for the metric, for the fast path.
        call_total: Sum of the per-call values.
    """

    units: int
    total: float
    total_sq: float
    calls: int
    call_total: float


@dataclass(frozen=True, slots=True)
class SharedUnits:
    """Units seen in two cells of a release: what the covariance of the cells' means needs.

    A user who comes back in a later ramp step is a unit of both steps, and their values there
    are correlated (some users rate more harshly than others); ignoring that would understate
    the variance of Δ̂ when many users return. The store's cells are ``(step, arm)``; the
    statistics' are ``(stratum index, side)`` with side ``"canary"`` or ``"control"``
    (:func:`promptstage.rollout.analysis.sequential.stratified_sequence`).

    Attributes:
        first: The earlier cell.
        second: The later cell.
        units: Units with a value for the metric in both cells.
        total_first: Sum of those units' values (per-unit means) in the first cell.
        total_second: Sum of their values in the second cell.
        total_product: Sum of the products of their two values.
    """

    first: tuple[int, str]
    second: tuple[int, str]
    units: int
    total_first: float
    total_second: float
    total_product: float


@dataclass(frozen=True, slots=True)
class ReleaseMetrics:
    """Everything the controller reads about a release's traffic, aggregated in the store.

    Attributes:
        units: Distinct units seen over the whole release in the arms the sample-ratio check
            compares (``canary``, ``control``).
        metrics: ``metric -> step -> arm -> sums`` for ``error_rate``, ``latency_ms``,
            ``cost`` and every score name with data. ``step`` is the ramp step (stratum) the
            calls were made in: 0 from the start, then each ``advance`` begins the next. The
            arms are ``canary`` and :func:`compared_arms`.
        cross: ``metric -> sums`` over the units seen in two steps, one entry per pair of
            (step, arm) cells that share units; empty while the release is at its first step.
        distinct: ``metric -> side -> units``: distinct units with a value over the whole
            release, side ``canary`` or ``control`` (every compared arm together). Filled once
            the release is past its first step (before, the per-step counts are distinct).
        window: ``metric -> side -> (calls, Σ value, Σ value²)`` over the fast path's window
            (calls made in ``(since, until]``), when one was asked for (``window_read``).
        first_seen: ``step -> arm -> units`` first seen in that step and arm (each unit once,
            where it first appeared), for the sample-ratio test across all arms.
        history: ``metric -> step -> arm -> (units with history, Σ X, Σ X², Σ X·Y, Σ Y)``
            over the units with calls on the prompt before the release started (X: their
            pre-release mean, Y: their value in the release), for the variance reduction.
            Read for releases at their first step only.
    """

    units: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, dict[int, dict[str, ArmSums]]] = field(default_factory=dict)
    cross: dict[str, list[SharedUnits]] = field(default_factory=dict)
    distinct: dict[str, dict[str, int]] = field(default_factory=dict)
    window: dict[str, dict[str, tuple[int, float, float]]] = field(default_factory=dict)
    window_read: bool = False
    history: dict[str, dict[int, dict[str, tuple[int, float, float, float, float]]]] = field(
        default_factory=dict
    )
    first_seen: dict[int, dict[str, int]] = field(default_factory=dict)


def compared_arms(release: Release) -> tuple[str, ...]:
    """The arms whose units the canary is compared with, step by step.

    Every unit-keyed call on the baseline version in the release's population: the equal-size
    ``control`` arm and the rest of its traffic (``baseline``). With targeting rules the
    ``baseline`` arm also holds users the rules do not match, so only ``control`` is compared.
    Unitless calls never count (they have no unit).
    See :mod:`promptstage.rollout.analysis.statistics`.
    """
    return ("control",) if release.targeting else ("control", "baseline")


# --- parsing a start request ----------------------------------------------------------------


def _fail(field_name: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{field_name}: {message}", field=field_name)


def parse_strategy(value: Any) -> str:
    """Check the strategy name."""
    if value not in STRATEGIES:
        raise _fail("strategy", f"must be one of {', '.join(STRATEGIES)}, got {value!r}")
    return str(value)


def default_weights(strategy: str) -> tuple[int, ...]:
    """The step weights a strategy uses when the request gives none."""
    if strategy == "ramp":
        return DEFAULT_RAMP_BPS
    return (DEFAULT_AB_BPS,) if strategy == "ab" else (DEFAULT_CANARY_BPS,)


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def _duration(value: Any, path: str) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= MAX_DURATION_SECONDS:
        raise _fail(path, f"must be a number of seconds from 0 to {MAX_DURATION_SECONDS:g}")
    return float(value)


def parse_steps(strategy: str, raw: Any) -> tuple[ReleaseStep, ...]:
    """Build the steps from the request's ``steps`` (or the strategy's defaults).

    ``steps`` is a list whose items are a weight in basis points (``500``) or an object
    ``{"weight_bps", "min_duration_seconds"?, "min_units"?}``. ``canary`` and ``ab`` take
    exactly one step. The weights' order and range are checked by the caller with
    :func:`promptstage.rollout.analysis.ramp.validate_steps`.
    """
    if raw is None:
        return tuple(ReleaseStep(w) for w in default_weights(strategy))
    if not isinstance(raw, list) or not raw:
        raise _fail("steps", "must be a non-empty list of weights in basis points or step objects")
    if len(raw) > MAX_STEPS:
        raise _fail("steps", f"at most {MAX_STEPS} steps")
    if strategy in ("canary", "ab") and len(raw) != 1:
        raise _fail(
            "steps", f"a {strategy} release has exactly one step; use strategy ramp for more"
        )
    steps: list[ReleaseStep] = []
    for i, item in enumerate(raw):
        path = f"steps[{i}]"
        if isinstance(item, dict):
            unknown = set(item) - {"weight_bps", "min_duration_seconds", "min_units"}
            if unknown:
                key = sorted(unknown)[0]
                raise _fail(
                    f"{path}.{key}",
                    "unknown key; allowed: weight_bps, min_duration_seconds, min_units",
                )
            if "weight_bps" not in item:
                raise _fail(f"{path}.weight_bps", "is required (the candidate's share, 500 = 5 %)")
            steps.append(
                ReleaseStep(
                    _int(item["weight_bps"], f"{path}.weight_bps", 1, 10000),
                    _duration(
                        item.get("min_duration_seconds", DEFAULT_MIN_DURATION_SECONDS),
                        f"{path}.min_duration_seconds",
                    ),
                    _int(item.get("min_units", DEFAULT_MIN_UNITS), f"{path}.min_units", 2, 10**9),
                )
            )
        else:
            steps.append(ReleaseStep(_int(item, path, 1, 10000)))
    return tuple(steps)


def parse_unit_attribute(value: Any) -> str:
    """The context attribute (or identity) the release is sticky on; ``user_id`` by default."""
    if value is None:
        return DEFAULT_UNIT_ATTRIBUTE
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or not value.isprintable():
        raise _fail("unit_attribute", "must be an attribute name of 1-128 printable characters")
    return value


# Score names whose increase is bad. Everything else (csat, eval.groundedness...) is taken to be
# bad when it decreases. Matching is on the last dotted segment, case-insensitive.
_HARMFUL_UP_EXACT: Final = frozenset({"thumbs_down", "thumbsdown", "escalated", "escalation"})
_HARMFUL_UP_PREFIXES: Final = ("error", "latency", "cost", "toxicity", "hallucination", "refusal")


def harmful_direction(metric: str) -> str:
    """The harmful direction assumed for a metric that has data but no declared guardrail.

    ``thumbs_down``, ``escalated`` and names starting with ``error``, ``latency``, ``cost``,
    ``toxicity``, ``hallucination`` or ``refusal`` are harmful when they increase; every other
    score (``csat``, ``thumbs_up``, ``eval.groundedness``) when it decreases.
    """
    last = metric.rsplit(".", 1)[-1].lower()
    if last in _HARMFUL_UP_EXACT or last.startswith(_HARMFUL_UP_PREFIXES):
        return "increase"
    return "decrease"
