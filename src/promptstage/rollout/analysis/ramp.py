"""Release states, their transitions, and the ramp policy (SPEC §2, §7).

Both are data in, data out: the controller reads the release, the clock and a
:class:`~promptstage.rollout.analysis.guardrails.Look`, asks :func:`next_step` what to do, and
applies the answer through :func:`transition` in one unit of work. A hold for lack of data
becomes a rollback (or a pause) at the step's bake deadline: :func:`at_bake_deadline`.

State machine (``*`` marks a final state)::

    running  --advance-->  running        (next ramp step)
    running  --pause---->  paused
    paused   --resume--->  running
    running | paused  --promote-->   completed*    (label moved to the candidate)
    running | paused  --rollback-->  rolled_back*  (candidate gets 0 %, label stays)
    running | paused  --abort---->   aborted*

A paused release keeps its split but does not advance; a human may still promote, roll back or
abort it (the controller never promotes while paused or unhealthy). Final states allow nothing:
retrying is a new release with a new salt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final, Literal, get_args

from promptstage.errors import ConflictError, InvalidInputError
from promptstage.rollout.analysis.guardrails import Look
from promptstage.rollout.bucketing import BUCKETS, CONTROL_START

__all__ = [
    "BAKE_DEADLINE_FACTOR",
    "DEFAULT_ON_INSUFFICIENT_DATA",
    "DEFAULT_RAMP_BPS",
    "MIN_BAKE_DEADLINE_SECONDS",
    "ON_INSUFFICIENT_DATA",
    "TERMINAL_STATES",
    "OnInsufficientData",
    "ReleaseAction",
    "ReleaseState",
    "StepAction",
    "StepDecision",
    "allowed_actions",
    "at_bake_deadline",
    "bake_deadline",
    "missing_data",
    "next_step",
    "transition",
    "validate_steps",
]

ReleaseState = Literal["running", "paused", "completed", "rolled_back", "aborted"]
ReleaseAction = Literal["advance", "pause", "resume", "promote", "rollback", "abort"]
StepAction = Literal["advance", "hold", "complete", "rollback", "pause"]
OnInsufficientData = Literal["rollback", "pause"]

ON_INSUFFICIENT_DATA: Final = ("rollback", "pause")
"""What a release does when its step reaches the bake deadline without enough data."""
DEFAULT_ON_INSUFFICIENT_DATA: Final = "rollback"
"""The default: missing data is an alarm (AWS AppConfig rolls back on ``INSUFFICIENT_DATA``)."""
BAKE_DEADLINE_FACTOR: Final = 4
"""A step's bake deadline is this many times its minimum duration..."""
MIN_BAKE_DEADLINE_SECONDS: Final = 600.0
"""...and never less than this: ten looks at the default controller interval, and AppConfig's
default final bake time, so that a step with no minimum duration is not rolled back on its first
look, before any traffic could reach it."""

DEFAULT_RAMP_BPS: Final = (500, 2_500, 5_000, 10_000)
"""The default ramp, 5 → 25 → 50 → 100 %, in basis points."""

TERMINAL_STATES: Final = frozenset({"completed", "rolled_back", "aborted"})

_FINAL: Mapping[ReleaseAction, ReleaseState] = {
    "promote": "completed",
    "rollback": "rolled_back",
    "abort": "aborted",
}
_TRANSITIONS: Final[Mapping[ReleaseState, Mapping[ReleaseAction, ReleaseState]]] = MappingProxyType(
    {
        "running": MappingProxyType({"advance": "running", "pause": "paused", **_FINAL}),
        "paused": MappingProxyType({"resume": "running", **_FINAL}),
        "completed": MappingProxyType({}),
        "rolled_back": MappingProxyType({}),
        "aborted": MappingProxyType({}),
    }
)
_STATES: Final = frozenset(get_args(ReleaseState))
_ACTIONS: Final = frozenset(get_args(ReleaseAction))


def allowed_actions(state: ReleaseState) -> tuple[ReleaseAction, ...]:
    """Return the actions allowed from ``state``, in a stable order (empty when final)."""
    if state not in _STATES:
        raise InvalidInputError(f"unknown release state {state!r}", field="state")
    return tuple(_TRANSITIONS[state])


def transition(state: ReleaseState, action: ReleaseAction) -> ReleaseState:
    """Return the state a release reaches when ``action`` is applied in ``state``.

    Args:
        state: The release's current state.
        action: ``advance``, ``pause``, ``resume``, ``promote``, ``rollback`` or ``abort``.

    Returns:
        The new state.

    Raises:
        InvalidInputError: ``state`` or ``action`` is not a known name.
        ConflictError: ``action`` is not allowed in ``state``; the message names the state and
            the actions it allows.
    """
    allowed = allowed_actions(state)
    if action not in _ACTIONS:
        raise InvalidInputError(
            f"unknown release action {action!r}; one of {', '.join(sorted(_ACTIONS))}",
            field="action",
        )
    if action not in allowed:
        if state in TERMINAL_STATES:
            hint = f"the release is {state}, which is final; start a new release instead"
        else:
            hint = f"a {state} release allows: {', '.join(allowed)}"
        raise ConflictError(
            f"cannot {action} a {state} release: {hint}",
            field="state",
            state=state,
            action=action,
            allowed=list(allowed),
        )
    return _TRANSITIONS[state][action]


def validate_steps(steps: Sequence[int]) -> tuple[int, ...]:
    """Check a ramp's weights (basis points) and return them as a tuple.

    A step must be in ``1..10000``, the steps strictly increasing, and no step may lie strictly
    between 5000 and 10000: the control arm exists only while the canary's weight is at most
    50 % (:mod:`promptstage.rollout.bucketing`), so such a step would have no sample-ratio check
    and, for a release with targeting rules, nothing to compare the canary with.
    A final 10000 means "promote": reaching it completes the release.

    Raises:
        InvalidInputError: The steps break one of these rules (field ``steps``).
    """
    if not steps:
        raise InvalidInputError("a ramp needs at least one step", field="steps")
    previous = 0
    for step in steps:
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= BUCKETS:
            raise InvalidInputError(
                f"each step must be an integer from 1 to {BUCKETS} basis points, got {step!r}",
                field="steps",
            )
        if step <= previous:
            raise InvalidInputError(
                f"steps must increase strictly, got {step} after {previous}", field="steps"
            )
        if CONTROL_START < step < BUCKETS:
            raise InvalidInputError(
                f"step {step} bps has no control arm to compare with (control exists up to "
                f"{CONTROL_START} bps); use steps up to {CONTROL_START}, then {BUCKETS}",
                field="steps",
            )
        previous = step
    return tuple(steps)


@dataclass(frozen=True, slots=True)
class StepDecision:
    """What the controller should do with a running release after a look.

    Attributes:
        action: ``advance`` (to ``step_index``), ``hold``, ``complete`` (promote the candidate),
            ``rollback`` or ``pause`` (unhealthy: sample-ratio mismatch).
        step_index: The step the release is at after the action.
        weight_bps: The canary weight after the action (0 after a rollback, 10000 when complete).
        reason: A sentence for the decision log.
        flag: For ``pause``: why, kept on the release (``srm``, ``regressed``,
            ``insufficient_data``); ``None`` otherwise.
    """

    action: StepAction
    step_index: int
    weight_bps: int
    reason: str
    flag: str | None = None

    @property
    def release_action(self) -> ReleaseAction | None:
        """The :func:`transition` action to apply, or ``None`` for ``hold``."""
        return _RELEASE_ACTION[self.action]


_RELEASE_ACTION: Final[Mapping[StepAction, ReleaseAction | None]] = MappingProxyType(
    {
        "advance": "advance",
        "hold": None,
        "complete": "promote",
        "rollback": "rollback",
        "pause": "pause",
    }
)


def _pct(bps: int) -> str:
    """Format basis points as a percentage."""
    return f"{bps / 100:g} %"


def next_step(
    steps: Sequence[int],
    current_index: int,
    step_started_at_seconds_ago: float,
    min_duration_s: float,
    look: Look,
    *,
    auto_promote: bool = True,
) -> StepDecision:
    """Decide the ramp move for a running release after a look.

    In order: a look that says ``rollback`` rolls back (at any time); an unhealthy look
    (sample-ratio mismatch) pauses; a step younger than ``min_duration_s`` holds; a look that
    says ``hold`` holds; otherwise the release advances to the next step, or completes when the
    current step is the last one or the next one is 10000 bps (100 %: no control arm is left to
    compare with, so reaching it is promotion).

    Args:
        steps: The ramp's weights in basis points (see :func:`validate_steps`).
        current_index: Index of the step the release is at.
        step_started_at_seconds_ago: Seconds since the current step started (a negative value,
            from clock skew, counts as 0).
        min_duration_s: Minimum duration of a step, in seconds.
        look: This look's decision.
        auto_promote: False for releases that must never complete by themselves (``ab``):
            where the policy would complete, it holds instead.

    Returns:
        The decision; its :attr:`StepDecision.release_action` is what to pass to
        :func:`transition` (nothing for ``hold``).
    """
    ramp = validate_steps(steps)
    if (
        isinstance(current_index, bool)
        or not isinstance(current_index, int)
        or not (0 <= current_index < len(ramp))
    ):
        raise InvalidInputError(
            f"current_index must be from 0 to {len(ramp) - 1}, got {current_index!r}",
            field="current_index",
        )
    if not (math.isfinite(min_duration_s) and min_duration_s >= 0):
        raise InvalidInputError(
            f"min_duration_s must be a finite number >= 0, got {min_duration_s!r}",
            field="min_duration_s",
        )
    if math.isnan(step_started_at_seconds_ago):
        raise InvalidInputError(
            "step_started_at_seconds_ago is NaN", field="step_started_at_seconds_ago"
        )
    weight = ramp[current_index]
    where = f"step {current_index + 1} of {len(ramp)} ({_pct(weight)})"
    if look.decision == "rollback":
        return StepDecision("rollback", current_index, 0, look.reason)
    if look.unhealthy:
        return StepDecision(
            "pause", current_index, weight, f"pause at {where}: {look.reason}", flag="srm"
        )
    elapsed = max(step_started_at_seconds_ago, 0.0)
    if elapsed < min_duration_s:
        return StepDecision(
            "hold",
            current_index,
            weight,
            f"hold at {where}: ran {elapsed:.0f} s of its minimum {min_duration_s:.0f} s",
        )
    if look.decision != "advance_allowed":
        return StepDecision("hold", current_index, weight, f"{look.reason} (at {where})")
    last = current_index == len(ramp) - 1
    if last or ramp[current_index + 1] >= BUCKETS:
        if not auto_promote:
            return StepDecision(
                "hold",
                current_index,
                weight,
                f"hold at {where}: this release is never auto-promoted",
            )
        final = len(ramp) - 1
        return StepDecision(
            "complete",
            final,
            BUCKETS,
            f"complete after {where}: guardrails ok, promote the candidate",
        )
    following = ramp[current_index + 1]
    return StepDecision(
        "advance",
        current_index + 1,
        following,
        f"advance from {where} to {_pct(following)}: minimum duration passed, guardrails ok",
    )


def _span(seconds: float) -> str:
    """Format a duration for a reason sentence: ``4 h``, ``10 min``, ``45 s``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.4g} h"
    if seconds >= 60:
        return f"{seconds / 60:.4g} min"
    return f"{seconds:.4g} s"


def bake_deadline(min_duration_s: float) -> float:
    """Seconds a step may run without enough data before :func:`at_bake_deadline` acts.

    ``BAKE_DEADLINE_FACTOR`` (4) times the step's minimum duration, and at least
    ``MIN_BAKE_DEADLINE_SECONDS`` (10 min): a step with a minimum duration of 0 gets the floor,
    not a deadline of 0. Never shorter than the minimum duration itself, so a step cannot reach
    its deadline while it still holds for its duration.

    Raises:
        InvalidInputError: ``min_duration_s`` is not a finite number >= 0.
    """
    if not (math.isfinite(min_duration_s) and min_duration_s >= 0):
        raise InvalidInputError(
            f"min_duration_s must be a finite number >= 0, got {min_duration_s!r}",
            field="min_duration_s",
        )
    return max(BAKE_DEADLINE_FACTOR * min_duration_s, MIN_BAKE_DEADLINE_SECONDS)


def _deadline_text(min_duration_s: float) -> str:
    """How the deadline was set, for a reason: ``4 x 1 h`` or ``10 min, the floor``."""
    if BAKE_DEADLINE_FACTOR * min_duration_s >= MIN_BAKE_DEADLINE_SECONDS:
        return f"{BAKE_DEADLINE_FACTOR} x {_span(min_duration_s)}"
    return f"{_span(MIN_BAKE_DEADLINE_SECONDS)}, the floor for short steps"


def missing_data(look: Look) -> str | None:
    """Say what data a look lacked, or ``None`` when it did not hold for lack of data.

    A look holds for lack of data when it is healthy and at least one guardrail is
    ``insufficient`` (no value for its metric, or fewer than ``min_units`` units in an arm).
    A look held for a sample-ratio mismatch is unhealthy, not short of data.
    """
    if look.decision != "hold" or look.unhealthy:
        return None
    parts = []
    for result in look.results:
        if result.decision != "insufficient":
            continue
        metric, canary, control = result.guardrail.metric, result.canary.n, result.control.n
        if canary == 0 and control == 0:
            parts.append(f"no rated units on {metric}")
        else:
            parts.append(
                f"{metric}: canary has {canary} and control {control} rated units, "
                f"need {result.guardrail.min_units} per arm"
            )
    return "; ".join(parts) or None


def at_bake_deadline(
    decision: StepDecision,
    *,
    missing: str | None,
    step_started_at_seconds_ago: float,
    min_duration_s: float,
    on_insufficient_data: OnInsufficientData = DEFAULT_ON_INSUFFICIENT_DATA,
) -> StepDecision:
    """Turn a hold for lack of data into a rollback or a pause once the step's deadline passed.

    Missing data is an alarm, as in AWS AppConfig (``INSUFFICIENT_DATA`` rolls back): a step
    that still lacks data :func:`bake_deadline` seconds after it started rolls back (candidate
    0 %) or, with ``on_insufficient_data="pause"``, pauses with the flag ``insufficient_data``
    (the split stays; a person decides). Before the deadline the hold stands and its reason says
    when the deadline falls. Any other decision (and a hold with nothing missing: the step's
    minimum duration, an A/B test that never promotes) is returned unchanged.

    Args:
        decision: The decision so far (:func:`next_step`, plus the caller's own unit gate).
        missing: What data the step lacks (:func:`missing_data`), or ``None``.
        step_started_at_seconds_ago: Seconds since the step started, on the database's clock
            (a negative value, from clock skew, counts as 0: a late deadline, never an early one).
        min_duration_s: The step's minimum duration, in seconds.
        on_insufficient_data: ``rollback`` (default) or ``pause``.

    Returns:
        The decision to apply.

    Raises:
        InvalidInputError: ``on_insufficient_data`` is not ``rollback`` or ``pause``, or a
            duration is not a number.
    """
    if on_insufficient_data not in ON_INSUFFICIENT_DATA:
        raise InvalidInputError(
            f"on_insufficient_data must be rollback or pause, got {on_insufficient_data!r}",
            field="on_insufficient_data",
        )
    if math.isnan(step_started_at_seconds_ago):
        raise InvalidInputError(
            "step_started_at_seconds_ago is NaN", field="step_started_at_seconds_ago"
        )
    deadline = bake_deadline(min_duration_s)
    if decision.action != "hold" or missing is None:
        return decision
    how = _deadline_text(min_duration_s)
    elapsed = max(step_started_at_seconds_ago, 0.0)
    if elapsed < deadline:
        then = "rolls back" if on_insufficient_data == "rollback" else "pauses"
        return replace(
            decision,
            reason=f"{decision.reason}; {then} if still short at the bake deadline ({how})",
        )
    why = f"{missing} after {_span(elapsed)} (deadline {how})"
    if on_insufficient_data == "rollback":
        return StepDecision("rollback", decision.step_index, 0, f"rollback: {why}")
    return StepDecision(
        "pause",
        decision.step_index,
        decision.weight_bps,
        f"pause (on_insufficient_data is pause): {why}",
        flag="insufficient_data",
    )
