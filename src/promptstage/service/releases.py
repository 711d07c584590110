"""Releases: start, read, analyse, and the manual actions (advance, pause, resume, promote,
rollback, abort).

A release changes one label from its baseline version to a candidate (SPEC §2). Everything a
request asks for is validated before the first write, and every change happens in one
transaction with its audit row and its ``release.changed`` event (``release_changes``).
Completion moves the label through the same code path as ``PUT .../labels/{label}``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from promptstage.domain import names
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import iso_utc
from promptstage.domain.releases import (
    DEFAULT_ON_DRIFT,
    DEFAULT_ON_INSUFFICIENT_DATA,
    ON_DRIFT,
    ON_INSUFFICIENT_DATA,
    STATES,
    Release,
    ReleaseChange,
    ReleaseLook,
    parse_steps,
    parse_strategy,
    parse_unit_attribute,
)
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.rollout.analysis.budget import HISTORY_DAYS
from promptstage.rollout.analysis.ramp import validate_steps
from promptstage.rollout.bucketing import HASH_VERSION
from promptstage.rollout.targeting import validate_rules
from promptstage.store.base import UnitOfWork

from . import promotion
from .context import Change, Context, change, parse_reason
from .fast_window import FastWindow
from .pagination import check_limit, decode_cursor, decode_time_cursor, page
from .promotion import Expose, MoveTo
from .prompts import require_project, require_prompt, require_version
from .release_changes import FULL, apply_action
from .release_metrics import Analysis, analyse, parse_guardrails, start_budget

ACTIONS = ("advance", "pause", "resume", "promote", "rollback", "abort")
CONTROL_MAX_BPS = 5000


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """A validated release request: what ``start_in`` needs, nothing read from the store yet."""

    prompt: str
    label: str
    candidate_version: int
    kind: str
    steps: tuple[Any, ...]
    weights: tuple[int, ...]
    unit_attribute: str
    targeting: Any
    guardrails: Any
    auto_rollback: bool
    reason: str
    on_insufficient_data: str = DEFAULT_ON_INSUFFICIENT_DATA
    on_drift: str = DEFAULT_ON_DRIFT


def plan_release(
    *,
    prompt: Any,
    label: Any,
    candidate_version: Any,
    strategy: Any,
    steps: Any = None,
    unit_attribute: Any = None,
    targeting: Any = None,
    guardrails: Any = None,
    auto_rollback: Any = True,
    reason: Any = None,
    on_insufficient_data: Any = DEFAULT_ON_INSUFFICIENT_DATA,
    on_drift: Any = DEFAULT_ON_DRIFT,
) -> ReleasePlan:
    """Validate a release request without touching the store.

    Raises:
        InvalidInputError: a field is wrong (named in ``field``, e.g. ``targeting.rules[0].operator``).
    """
    names.prompt_name(prompt, "prompt")
    names.label_name(label)
    if (
        isinstance(candidate_version, bool)
        or not isinstance(candidate_version, int)
        or candidate_version < 1
    ):
        raise InvalidInputError(
            "candidate_version must be a version number (an integer >= 1)",
            field="candidate_version",
        )
    kind = parse_strategy(strategy)
    step_list = parse_steps(kind, steps)
    weights = validate_steps([s.weight_bps for s in step_list])
    if kind != "ramp" and weights[0] > CONTROL_MAX_BPS:
        raise InvalidInputError(
            f"steps: a {kind} release's weight must be at most {CONTROL_MAX_BPS} bps (50 %) so "
            "that an equal-size control arm exists; use a ramp to go to 100 %",
            field="steps",
        )
    unit_attr = parse_unit_attribute(unit_attribute)
    rules = validate_rules(targeting, path="targeting") if targeting is not None else None
    guards = parse_guardrails(guardrails)
    if not isinstance(auto_rollback, bool):
        raise InvalidInputError("auto_rollback must be true or false", field="auto_rollback")
    if on_insufficient_data not in ON_INSUFFICIENT_DATA:
        raise InvalidInputError(
            f"on_insufficient_data must be rollback or pause, got {on_insufficient_data!r}; "
            "it says what a step still short of data does at its bake deadline",
            field="on_insufficient_data",
        )
    if on_drift not in ON_DRIFT:
        raise InvalidInputError(
            f"on_drift must be one of {list(ON_DRIFT)}, got {on_drift!r}; it says what the "
            "release does while the canary reports a model, index or tool its version did not pin",
            field="on_drift",
        )
    return ReleasePlan(
        prompt,
        label,
        candidate_version,
        kind,
        tuple(step_list),
        tuple(weights),
        unit_attr,
        rules,
        guards,
        auto_rollback,
        parse_reason(reason),
        on_insufficient_data,
        on_drift,
    )


def start_release(
    ctx: Context,
    actor: str,
    project: str,
    *,
    bypass: str | None = None,
    settings_seen: ProjectSettings | None = None,
    override: str | None = None,
    **fields: Any,
) -> Release:
    """Start a release of ``label`` from its current version to ``candidate_version``.

    ``fields`` are ``plan_release``'s keywords; ``bypass`` flags the audit row (``after.
    four_eyes_bypass``) when a protected label under four-eyes is released without approval;
    ``override`` is an admin's reason to start it despite the evaluation gate.

    Raises:
        InvalidInputError: a field is wrong (named in ``field``, e.g. ``targeting.rules[0].operator``).
        NotFoundError: the prompt, the label or the candidate version does not exist.
        ConflictError: the label already has an active (running or paused) release.
    """
    plan = plan_release(**fields)
    with change(ctx, project, actor, settings_seen=settings_seen) as ch:
        return start_in(ch, plan, bypass, override=override)


def start_in(
    ch: Change,
    plan: ReleasePlan,
    bypass: str | None = None,
    change_request: str | None = None,
    override: str | None = None,
) -> Release:
    """Start the release ``plan`` inside the caller's transaction, through the promotion door.

    Also what an approval applies; ``change_request`` then names the approved request.
    """
    project, prompt, label, candidate_version = (
        ch.project,
        plan.prompt,
        plan.label,
        plan.candidate_version,
    )
    why = plan.reason
    require_prompt(ch.uow, project, prompt)
    current = ch.uow.get_labels(project, prompt).get(label)
    if current is None:
        raise NotFoundError(
            f"prompt {prompt!r} has no label {label!r}: a release changes an existing label; "
            f"point {label!r} at the baseline version first",
            field="label",
        )
    target = require_version(ch.uow, project, prompt, candidate_version, "candidate_version")
    if candidate_version == current:
        raise InvalidInputError(
            f"candidate_version {candidate_version} is what {label!r} already points at; "
            "choose another version as the candidate",
            field="candidate_version",
        )
    active = ch.uow.active_release(project, prompt, label)
    if active is not None:
        raise ConflictError(
            f"label {label!r} of prompt {prompt!r} already has an active release "
            f"({active.id}, {active.state}); promote, roll back or abort it first",
            field="label",
            release_id=active.id,
        )
    seen: list[str] = []
    if plan.guardrails is None:  # the defaults: budget every score name seen on the baseline
        seen = ch.uow.score_names_before(
            project, prompt, current, ch.at - timedelta(days=HISTORY_DAYS), ch.at
        )
    release = Release(
        id=f"rel_{secrets.token_hex(8)}",
        project=project,
        prompt=prompt,
        label=label,
        baseline_version=current,
        candidate_version=candidate_version,
        strategy=plan.kind,
        steps=plan.steps,
        step_index=0,
        weight_bps=plan.weights[0],
        state="running",
        salt=secrets.token_hex(8),
        hash_version=HASH_VERSION,
        unit_attribute=plan.unit_attribute,
        targeting=plan.targeting,
        guardrails=plan.guardrails,
        auto_rollback=plan.auto_rollback,
        flags=(),
        reason=why or "started",
        created_by=ch.actor,
        created_at=ch.at,
        updated_at=ch.at,
        step_started_at=ch.at,
        on_insufficient_data=plan.on_insufficient_data,
        on_drift=plan.on_drift,
        error_budget=start_budget(plan.guardrails, seen).to_dict(),
    )
    return promotion.promote(ch, Expose(release, target, why, bypass, change_request, override))


def require_release(uow: UnitOfWork, project: str, release_id: str) -> Release:
    """The release, or ``NotFoundError`` naming it."""
    require_project(uow, project)
    found = uow.get_release(project, release_id) if len(release_id) <= 64 else None
    if found is None:
        raise NotFoundError(f"no release {release_id!r} in project {project!r}", field="release_id")
    return found


def promote(ch: Change, release: Release, reason: str) -> Release:
    """Complete ``release``: state ``completed``, then the label moves to the candidate
    through the promotion door.

    The ``release.changed`` event comes first and the label's ``label.moved`` after it
    (docs/protocol.md), both in the caller's transaction.
    """
    done = apply_action(ch, release, "promote", reason=reason)
    current = ch.uow.get_labels(ch.project, release.prompt).get(release.label)
    if current != release.candidate_version:
        why = reason or f"release {release.id} completed"
        target = require_version(ch.uow, ch.project, release.prompt, release.candidate_version)
        move = MoveTo(release.prompt, release.label, target, current, why, release_id=release.id)
        promotion.promote(ch, move)
    return done


def act(
    ctx: Context, actor: str, project: str, release_id: str, action: str, reason: Any = None
) -> Release:
    """Apply a manual action to a release.

    ``advance`` moves a ramp to its next step; advancing into a 100 % step promotes (the
    controller does the same). ``promote`` completes the release and moves the label.

    Raises:
        NotFoundError: no such release.
        ConflictError: the action is not allowed now (the message says which are).
    """
    if action not in ACTIONS:
        raise InvalidInputError(
            f"unknown action {action!r}; one of {', '.join(ACTIONS)}", field="action"
        )
    why = parse_reason(reason)
    with change(ctx, project, actor) as ch:
        release = require_release(ch.uow, project, release_id)
        if action == "promote":
            return promote(ch, release, why)
        if action == "advance" and release.state == "running":
            if release.strategy == "ab":
                raise ConflictError(
                    f"release {release.id} is an A/B test with a fixed split; it has no next "
                    "step (promote or abort it when the analysis is done)",
                    field="action",
                )
            following = release.step_index + 1
            if following >= len(release.steps):
                raise ConflictError(
                    f"release {release.id} is at its last step "
                    f"({release.weight_bps / 100:g} %); promote it to finish",
                    field="action",
                )
            if release.steps[following].weight_bps >= FULL:
                return promote(ch, release, why or "advanced to 100 %")
        return apply_action(ch, release, action, reason=why)


def list_releases(
    ctx: Context,
    project: str,
    *,
    state: str | None = None,
    prompt: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Release], str | None]:
    """Releases newest first, filtered by state and prompt."""
    check_limit(limit)
    if state is not None and state not in (*STATES, "active"):
        raise InvalidInputError(
            f"state must be one of {', '.join(STATES)} or active", field="state"
        )
    before = decode_time_cursor(cursor)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        if state == "active":
            rows = uow.active_releases(project, prompt)
            return rows, None
        rows = uow.list_releases(
            project, state=state, prompt=prompt, limit=limit + 1, before=before
        )
    return page(rows, limit, lambda r: [iso_utc(r.created_at), r.id])


def get_release(
    ctx: Context, project: str, release_id: str, *, looks: int = 20
) -> tuple[Release, list[ReleaseChange], list[ReleaseLook]]:
    """A release, its whole history (oldest first) and its latest looks (newest first)."""
    with ctx.store.unit_of_work() as uow:
        release = require_release(uow, project, release_id)
        return (
            release,
            uow.release_history(release.id),
            uow.list_looks(release.id, limit=looks, before=None),
        )


def list_looks(
    ctx: Context, project: str, release_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[ReleaseLook], str | None]:
    """Every stored look of a release, newest first."""
    check_limit(limit)
    before = decode_cursor(cursor, int)
    with ctx.store.unit_of_work() as uow:
        release = require_release(uow, project, release_id)
        rows = uow.list_looks(release.id, limit=limit + 1, before=before)
    return page(rows, limit, lambda lk: lk.id)


def active_for_prompt(ctx: Context, project: str, prompt: str) -> list[Release]:
    """The running and paused releases of one prompt."""
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        return uow.active_releases(project, prompt)


def analysis(
    ctx: Context, project: str, release_id: str
) -> tuple[Release, Analysis, ReleaseLook | None]:
    """Evaluate the release now on its data so far (nothing is stored or acted on), and return
    it with the controller's latest stored look."""
    with ctx.store.unit_of_work() as uow:
        release = require_release(uow, project, release_id)
        latest = uow.list_looks(release.id, limit=1, before=None)
        state = latest[0].data.get("fast_window_state") if latest else None
        window = FastWindow.after(state, release.created_at, uow.database_now())
        metrics = uow.release_metrics(release, (window.since, window.until))
    return release, analyse(release, metrics, window=window), latest[0] if latest else None
