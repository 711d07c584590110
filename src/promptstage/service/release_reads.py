"""Reads the release pages need besides the release itself: the metrics that have data for a
prompt (guardrail choices), how many recent calls a targeting rule group matches, and which
manual actions a release's state and a caller's role allow.

The API exposes none of this as such; the admin UI calls it so that its views hold no policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from promptstage.domain.calls import CallFilter
from promptstage.domain.models import Role
from promptstage.domain.releases import Release, harmful_direction
from promptstage.errors import PermissionDeniedError
from promptstage.rollout.targeting import compile_rules

from . import governance, releases
from .access import check
from .context import Context
from .governance import Applied, Opened
from .keys import Principal
from .prompts import require_prompt

RECENT_CALLS: Final = 500
"""How many of a prompt's latest calls the start form looks at."""

_ACTIONS_BY_STATE: Final = {
    "running": ("advance", "pause", "promote", "rollback", "abort"),
    "paused": ("resume", "promote", "rollback", "abort"),
}


@dataclass(frozen=True, slots=True)
class MetricChoice:
    """A metric with data on a prompt's recent calls, offered as a guardrail.

    Attributes:
        metric: ``error_rate``, ``latency_ms``, ``cost`` or a score name.
        harmful: The direction assumed harmful (``increase`` or ``decrease``).
        observed: How many of the recent calls carry it (scores: any, so 0 means "seen").
    """

    metric: str
    harmful: str
    observed: int


@dataclass(frozen=True, slots=True)
class MatchPreview:
    """How many of a prompt's recent calls a rule group matches."""

    matched: int
    total: int
    attributes: tuple[str, ...]


def _recent(ctx: Context, project: str, prompt: str, limit: int) -> list[Any]:
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        return uow.list_calls(project, CallFilter(prompt=prompt), limit=limit, before=None)


def metric_choices(
    ctx: Context, who: Principal, project: str, prompt: str, *, recent: int = RECENT_CALLS
) -> list[MetricChoice]:
    """The metrics that have data on ``prompt``'s latest ``recent`` calls: ``error_rate`` (any
    call), ``latency_ms`` and ``cost`` (when reported) and every score name attached to them.

    Raises:
        PermissionDeniedError: ``who`` has no role in ``project``.
        NotFoundError: the prompt does not exist.
    """
    check(who, project, Role.editor)
    calls = _recent(ctx, project, prompt, recent)
    if not calls:
        return []
    since: datetime = min(c.at for c in calls)
    with ctx.store.unit_of_work() as uow:
        names = uow.score_names(project, prompt, since)
    out = [MetricChoice("error_rate", "increase", len(calls))]
    for metric, attr in (("latency_ms", "latency_ms"), ("cost", "cost")):
        seen = sum(1 for c in calls if getattr(c, attr) is not None)
        if seen:
            out.append(MetricChoice(metric, "increase", seen))
    out.extend(MetricChoice(name, harmful_direction(name), 0) for name in names)
    return out


def preview_targeting(
    ctx: Context,
    who: Principal,
    project: str,
    prompt: str,
    targeting: Any,
    *,
    recent: int = RECENT_CALLS,
) -> MatchPreview:
    """Evaluate ``targeting`` (react-querybuilder JSON) with ``rollout.targeting`` against the
    context attributes of ``prompt``'s latest ``recent`` calls.

    Raises:
        InvalidInputError: the rule group is invalid (the field names its path).
    """
    check(who, project, Role.editor)
    matcher = compile_rules(targeting, path="targeting")
    calls = _recent(ctx, project, prompt, recent)
    attributes = sorted({key for c in calls for key in c.context})[:50]
    matched = sum(1 for c in calls if matcher(c.context))
    return MatchPreview(matched, len(calls), tuple(attributes))


def allowed_actions(who: Principal, project: str, release: Release) -> tuple[str, ...]:
    """The manual actions ``who`` may take on ``release`` now: what its state allows
    (docs/releases.md, States), and none without the ``releaser`` role.

    ``advance`` is offered only when a next step exists (not on an A/B test or the last step).
    """
    try:
        check(who, project, Role.releaser)
    except PermissionDeniedError:
        return ()
    actions = _ACTIONS_BY_STATE.get(release.state, ())
    if "advance" in actions and (
        release.strategy == "ab" or release.step_index + 1 >= len(release.steps)
    ):
        actions = tuple(a for a in actions if a != "advance")
    return actions


def start(
    ctx: Context,
    who: Principal,
    project: str,
    fields: dict[str, Any],
    *,
    ttl: timedelta,
    override_gate: Any = None,
) -> Applied[Release] | Opened:
    """Start a release as ``who`` (``governance.propose_release``), who needs ``releaser``.

    Raises:
        PermissionDeniedError: ``who`` is not a releaser of ``project`` (or not an admin,
            with ``override_gate``).
    """
    check(who, project, Role.releaser)
    return governance.propose_release(
        ctx, who, project, fields, ttl=ttl, override_gate=override_gate
    )


def perform(
    ctx: Context, who: Principal, project: str, release_id: str, action: str, reason: Any = None
) -> Release:
    """A manual action on a release as ``who`` (``releases.act``), who needs ``releaser``.

    Raises:
        PermissionDeniedError: ``who`` is not a releaser of ``project``.
        ConflictError: the state does not allow ``action``.
    """
    check(who, project, Role.releaser)
    return releases.act(ctx, who.actor, project, release_id, action, reason)
