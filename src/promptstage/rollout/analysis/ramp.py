"""Release states, their transitions, and the ramp policy (SPEC §2, §7).

Both are data in, data out: the controller reads the release, the clock and a
:class:`~promptstage.rollout.analysis.guardrails.Look`, asks :func:`next_step` what to do, and
applies the answer through :func:`transition` in one unit of work.

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
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, get_args

from promptstage.errors import ConflictError, InvalidInputError
from promptstage.rollout.analysis.guardrails import Look
from promptstage.rollout.bucketing import BUCKETS, CONTROL_START

__all__ = [
    "DEFAULT_RAMP_BPS",
    "TERMINAL_STATES",
    "ReleaseAction",
    "ReleaseState",
    "StepAction",
    "StepDecision",
    "allowed_actions",
    "next_step",
    "transition",
    "validate_steps",
]

ReleaseState = Literal["running", "paused", "completed", "rolled_back", "aborted"]
ReleaseAction = Literal["advance", "pause", "resume", "promote", "rollback", "abort"]
StepAction = Literal["advance", "hold", "complete", "rollback", "pause"]

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
    """

    action: StepAction
    step_index: int
    weight_bps: int
    reason: str

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
        return StepDecision("pause", current_index, weight, f"pause at {where}: {look.reason}")
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
