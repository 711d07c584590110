"""The release controller: one look at every running release, then act on it (SPEC §7).

:func:`run_once` is the whole controller; the server calls it every
``PROMPTSTAGE_CONTROLLER_INTERVAL`` seconds on the replica that holds the leadership lock
(:func:`run_forever`). For each running release it

1. reads the per-arm, per-unit sums of its metrics from the store (aggregated in SQL);
2. evaluates every guardrail with :mod:`promptstage.rollout.analysis.statistics` (confidence
   sequence, fast path, sample-ratio check) and asks
   :func:`promptstage.rollout.analysis.ramp.next_step` what to do;
3. stores the look (n, means, interval, decision and reason per guardrail) and acts, in one
   transaction, as ``system:release-controller``: ``rollback`` (immediate, candidate 0 %),
   ``pause`` (sample-ratio mismatch, flagged ``srm``), ``advance`` to the next step,
   ``complete`` (promote: the label moves), or ``hold``.

A completion the promotion gate refuses (the candidate has not passed the label's required eval
suites, ``service/eval_gate.py``) pauses the release flagged ``gate_refused``, with a reason
naming the suites, in its history and the audit trail: the controller does not retry a paused
release, so it stops asking until a person acts (runs the suites and resumes or promotes it,
an admin overrides the gate, or someone aborts it).

Missing data never promotes: a guardrail without ``min_units`` units per arm holds the release,
and so does a step whose own ``min_units`` is not reached. Nor does it hold for ever: a step
still short of data at its bake deadline (4 x its minimum duration, at least 10 min:
:func:`promptstage.rollout.analysis.ramp.bake_deadline`) rolls back, or pauses flagged
``insufficient_data`` when the release says ``on_insufficient_data: pause``. With
``auto_rollback`` off a regression pauses the release and flags it ``regressed`` instead of
rolling it back.

Time is the database's: a pass reads the database's clock once (``database_now``) and measures
every step from its stored ``step_started_at``, so a restarted controller re-arms each deadline
where it was, and a replica whose own clock runs hours ahead does not roll back early.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, cast

from promptstage.domain.releases import CONTROLLER_ACTOR, Release, ReleaseLook, ReleaseMetrics
from promptstage.errors import GateRefusedError, PromptstageError
from promptstage.rollout.analysis.ramp import OnInsufficientData, at_bake_deadline, missing_data
from promptstage.rollout.analysis.statistics import DEFAULT_N_STAR, StepDecision, next_step
from promptstage.store.base import Leadership, UnitOfWork

from .context import Context, change
from .deps_drift import canary_drift, canary_drift_reason
from .fast_window import FastWindow
from .release_changes import apply_action
from .release_metrics import Analysis, analyse
from .releases import promote
from .tracing import Attribute, annotate

GATE_REFUSED: Final = "gate_refused"

log = logging.getLogger("promptstage.controller")

LEADER_LOCK: Final = "release-controller"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one look did to one release (``skipped``: it changed meanwhile)."""

    project: str
    release_id: str
    decision: str
    action: str
    reason: str


def decide(release: Release, analysis: Analysis, now: datetime) -> StepDecision:
    """The step decision for ``release`` after ``analysis``, with the step's own unit gate and
    its bake deadline; ``now`` is the database's time of the look."""
    step = release.step
    elapsed = (now - release.step_started_at).total_seconds()
    decision = next_step(
        [s.weight_bps for s in release.steps],
        release.step_index,
        elapsed,
        step.min_duration_seconds,
        analysis.look,
        auto_promote=release.strategy != "ab",
    )
    missing = missing_data(analysis.look)
    if decision.action in ("advance", "complete"):
        canary = analysis.units.get("canary", 0)
        control = analysis.units.get("control", 0)
        if min(canary, control) < step.min_units:
            missing = (
                f"canary has {canary} and control {control} units, the step needs "
                f"{step.min_units} per arm"
            )
            decision = StepDecision(
                "hold",
                release.step_index,
                release.weight_bps,
                f"hold at step {release.step_index + 1}: {missing}",
            )
    if decision.action == "rollback" and not release.auto_rollback:
        return StepDecision(
            "pause",
            release.step_index,
            release.weight_bps,
            f"pause (auto_rollback is off): {decision.reason}",
            flag="regressed",
        )
    return at_bake_deadline(
        decision,
        missing=missing,
        step_started_at_seconds_ago=elapsed,
        min_duration_s=step.min_duration_seconds,
        on_insufficient_data=cast(OnInsufficientData, release.on_insufficient_data),
    )


def window_of(uow: UnitOfWork, release: Release, now: datetime) -> FastWindow:
    """The fast path's window for a look at ``now``: from where the latest look left it."""
    latest = uow.list_looks(release.id, limit=1, before=None)
    state = latest[0].data.get("fast_window_state") if latest else None
    return FastWindow.after(state, release.created_at, now)


def look_at(
    ctx: Context,
    release: Release,
    now: datetime,
    *,
    metrics: ReleaseMetrics | None = None,
    window: FastWindow | None = None,
    n_star: float = DEFAULT_N_STAR,
) -> Outcome:
    """Evaluate one running release and apply the decision; see the module docstring.

    ``metrics`` may be read beforehand (``run_once`` reads a project's releases in one pass,
    with the fast path's ``window``). The look is a ``promptstage.controller.look`` span of the
    context's tracer, with the release and, once known, the decision and the action.
    """
    attributes: dict[str, Attribute] = {
        "promptstage.project": release.project,
        "promptstage.prompt": release.prompt,
        "promptstage.label": release.label,
        "promptstage.release": release.id,
        "promptstage.release.step": release.step_index,
        "promptstage.release.weight_bps": release.weight_bps,
    }
    with ctx.tracer.span("promptstage.controller.look", attributes) as span:
        outcome = _look(ctx, release, now, metrics, window, n_star)
        annotate(
            span,
            {"promptstage.decision": outcome.decision, "promptstage.action": outcome.action},
        )
        return outcome


def _look(
    ctx: Context,
    release: Release,
    now: datetime,
    metrics: ReleaseMetrics | None,
    window: FastWindow | None,
    n_star: float,
) -> Outcome:
    """:func:`look_at` without its span."""
    if metrics is None:
        with ctx.store.unit_of_work() as uow:
            window = window_of(uow, release, now)
            metrics = uow.release_metrics(release, (window.since, window.until))
    analysis = analyse(release, metrics, n_star=n_star, window=window)
    decision = on_drift(ctx, release, decide(release, analysis, now))
    try:
        return _apply(ctx, release, analysis, decision, now)
    except GateRefusedError as exc:  # the completion was refused: nothing of it was written
        reason = gate_refused_reason(exc)
        refused = StepDecision(
            "pause", release.step_index, release.weight_bps, reason, flag=GATE_REFUSED
        )
        return _apply(ctx, release, analysis, refused, now)


def on_drift(ctx: Context, release: Release, decision: StepDecision) -> StepDecision:
    """The drift guardrail: while the candidate's calls on the label report a model, index or
    tool its version did not pin, a release that would advance or complete holds at its step
    (``on_drift: hold``) or rolls back (``rollback``); ``ignore`` leaves the decision alone."""
    if release.on_drift == "ignore" or decision.action not in ("advance", "complete", "hold"):
        return decision
    with ctx.store.unit_of_work() as uow:
        drift = canary_drift(uow, release)
    if not drift:
        return decision
    reason = canary_drift_reason(drift)
    if release.on_drift == "rollback":
        return StepDecision(
            "rollback", release.step_index, release.weight_bps, f"roll back: {reason}"
        )
    return StepDecision(
        "hold",
        release.step_index,
        release.weight_bps,
        f"hold at step {release.step_index + 1}: {reason}",
    )


def gate_refused_reason(exc: GateRefusedError) -> str:
    """The pause reason of a completion the gate refused: the suites and why, and the fix."""
    verdicts = exc.details.get("verdicts") or []
    suites = [str(v.get("suite")) for v in verdicts if isinstance(v, dict) and not v.get("passed")]
    reasons = exc.details.get("reasons") or []
    named = ", ".join(suites) if suites else "its required suites"
    why = "; ".join(str(r) for r in reasons) or exc.message
    return (
        f"pause: the evaluation gate refused the promotion (suites: {named}): {why}. "
        "Run the suites on the candidate, then resume or promote the release "
        "(or an admin promotes it with a reason)"
    )


def _apply(
    ctx: Context, release: Release, analysis: Analysis, decision: StepDecision, now: datetime
) -> Outcome:
    """Store the look and apply ``decision`` in one transaction (see :func:`look_at`)."""
    with change(ctx, release.project, CONTROLLER_ACTOR) as ch:
        ch.at = now
        current = ch.uow.get_release(release.project, release.id)
        if (
            current is None
            or current.state != "running"
            or current.step_index != release.step_index
        ):
            return Outcome(
                release.project,
                release.id,
                analysis.look.decision,
                "skipped",
                "the release changed during the look; the next look decides",
            )
        ch.uow.add_look(
            ReleaseLook(
                release.id,
                now,
                current.step_index,
                current.weight_bps,
                analysis.look.decision,
                decision.action,
                decision.reason,
                analysis.to_dict(),
            )
        )
        budget = analysis.look.budget
        if (
            budget is not None
            and current.error_budget is not None
            and list(budget.late) != current.error_budget.get("late", [])
        ):  # a score name first seen now: record its share before anything else
            current = replace(current, error_budget=budget.to_dict(), updated_at=now)
            ch.uow.update_release(current)
        action = decision.action
        if action == "rollback":
            apply_action(ch, current, "rollback", reason=decision.reason)
        elif action == "pause":
            flag = decision.flag or ("srm" if analysis.look.unhealthy else "regressed")
            flags = tuple(dict.fromkeys((*current.flags, flag)))
            apply_action(ch, current, "pause", reason=decision.reason, flags=flags)
        elif action == "advance":
            apply_action(ch, current, "advance", reason=decision.reason)
        elif action == "complete":
            promote(ch, current, decision.reason)
        elif current.reason != decision.reason:  # hold: keep the latest reason on the release
            ch.uow.update_release(replace(current, reason=decision.reason, updated_at=now))
    return Outcome(release.project, release.id, analysis.look.decision, action, decision.reason)


def take_histories(ctx: Context) -> None:
    """Take the units' pre-release history of every active release not taken yet, each in its
    own transaction, and drop that of the releases that ended
    (``store/sql/release_covariates.py``): later looks join the stored history instead of
    scanning the prompt's 14 days of calls. :func:`run_forever` runs it as a job beside the
    passes, :func:`run_once` after its looks. A failure here is logged and never stops the
    looks: they read the history from the calls."""
    try:
        with ctx.store.unit_of_work(write=True) as uow:
            uow.drop_ended_covariates()
    except Exception:
        log.exception("controller could not drop the history of the releases that ended")
    try:
        with ctx.store.unit_of_work() as uow:
            work = uow.running_releases()
            at = uow.database_now()
            took = uow.covariates_taken([r.id for r in work])
    except Exception:
        log.exception("controller could not read the releases whose history to take")
        return
    for release in work:
        if release.id in took:
            continue
        try:
            with ctx.store.unit_of_work(write=True) as uow:
                uow.take_covariates(release, at)
        except Exception:
            log.exception("controller could not take the history of %s", release.id)


def run_once(
    ctx: Context,
    now: datetime | None = None,
    *,
    n_star: float = DEFAULT_N_STAR,
    take: bool = True,
) -> list[Outcome]:
    """Look once at every running release of every project.

    Args:
        ctx: The service context.
        now: The time of the look; by default the database's current time, read once for the
            pass, so that step durations and bake deadlines never depend on this process's
            clock (tests pass it to control step durations).
        n_star: Tuning parameter of the confidence sequences.
        take: Run :func:`take_histories` after the looks (``False``: the caller runs it).

    Returns:
        One outcome per release looked at. A release whose look fails is logged and skipped;
        the others are still looked at.
    """
    with ctx.store.unit_of_work() as uow:
        work = uow.running_releases()
        at = now if now is not None else uow.database_now()
    by_project: dict[str, list[Release]] = {}
    for release in work:
        by_project.setdefault(release.project, []).append(release)
    outcomes: list[Outcome] = []
    for project, group in by_project.items():
        try:
            with ctx.store.unit_of_work() as uow:
                windows = {r.id: window_of(uow, r, at) for r in group}
                metrics = uow.releases_metrics(
                    project, group, {rid: (w.since, w.until) for rid, w in windows.items()}
                )
        except PromptstageError as exc:
            log.warning("controller could not read the metrics of %s: %s", project, exc.message)
            continue
        for release in group:
            try:
                outcomes.append(
                    look_at(
                        ctx,
                        release,
                        at,
                        metrics=metrics[release.id],
                        window=windows[release.id],
                        n_star=n_star,
                    )
                )
            except PromptstageError as exc:
                log.warning("controller look at %s/%s failed: %s", project, release.id, exc.message)
            except Exception:  # a bug in one release's look must not starve the others
                log.exception("controller look at %s/%s failed", project, release.id)
    for outcome in outcomes:
        if outcome.action not in ("hold", "skipped"):
            log.info(
                "release %s/%s: %s (%s)",
                outcome.project,
                outcome.release_id,
                outcome.action,
                outcome.reason,
            )
    # After the looks, so that taking a busy prompt's history (minutes at 50 M calls) never
    # delays another release's look in this pass; until it is taken a look scans it.
    if take:
        take_histories(ctx)
    return outcomes


async def run_forever(ctx: Context, leadership: Leadership, interval: float) -> None:
    """Look every ``interval`` seconds while this replica holds the leadership lock.

    The history of a new release is taken beside the passes, one take at a time: on a busy
    prompt it takes minutes, and the next pass (every release's look, auto-rollback included)
    must not wait for it. Until it is taken, the release's looks scan the history.
    """
    taking: asyncio.Task[None] | None = None
    try:
        while True:
            try:
                if await asyncio.to_thread(leadership.acquire):
                    await asyncio.to_thread(run_once, ctx, take=False)
                    if taking is None or taking.done():
                        taking = asyncio.create_task(asyncio.to_thread(take_histories, ctx))
            except PromptstageError as exc:
                log.warning("controller pass failed: %s", exc.message)
            except Exception:
                log.exception("controller pass failed")
            await asyncio.sleep(max(interval, 0.05))  # never a busy loop
    finally:
        if taking is not None:
            taking.cancel()  # its thread ends with its transaction
