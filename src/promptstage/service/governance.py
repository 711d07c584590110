"""Governance: a project's settings, and the policy every front end applies with them.

The settings say which labels are protected and whether four-eyes is on. Protected labels need
the ``releaser`` role to move, remove, roll back or release. With four-eyes on, a
project-scoped key's move or release of a protected label opens a change request instead
(``change_requests``); the instance admin key is break-glass (docs/security.md). A move of a
protected label must say what it replaces (``expected_version``): a blind overwrite is refused
with 428.

Changing the settings is governed too: with four-eyes on, a project admin's change that weakens
them (``domain.governance.weakenings``) opens a ``project.settings`` change request that another
admin decides; a change that only strengthens them applies at once, and so does the instance
admin key's (break-glass, flagged in the audit).

``propose_move``, ``propose_release`` and ``propose_settings`` decide "apply now, or open a
change request" and return :class:`Applied` or :class:`Opened`; ``remove_label`` and
``roll_back_label`` apply the same checks to the other label changes, and ``approve_request``
and ``reject_request`` check who may decide a request. The API's routes and the admin UI call
these and hold no policy of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

from promptstage.domain.events import AuditAction
from promptstage.domain.governance import (
    ChangeRequest,
    ProjectSettings,
    weakenings,
)
from promptstage.domain.models import LabelMove, Role
from promptstage.domain.releases import Release
from promptstage.errors import (
    NotFoundError,
    PermissionDeniedError,
    PreconditionRequiredError,
)

from . import change_requests, eval_gate, eval_policy, labels, releases
from .access import check, label_role
from .context import Context, change, parse_reason
from .keys import Principal
from .project_settings import parse_settings as parse_settings
from .project_settings import write_settings

BREAK_GLASS = "break_glass"
KEEPABLE = ("gate_policy", "static_policy")  # omitted from a settings change: kept as they are
ROLLBACK = "rollback"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Applied(Generic[T]):
    """The change was applied now; ``value`` is what it returned; ``bypass`` says why it
    skipped four-eyes (``break_glass``, ``rollback``) or is ``None``."""

    value: T
    bypass: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """Four-eyes: a change request was opened and nothing changed yet."""

    change_request: ChangeRequest


def get_settings(ctx: Context, project: str) -> ProjectSettings:
    """The project's governance settings (one primary-key read).

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        found = uow.project_settings(project)
    if found is None:
        raise NotFoundError(f"project {project!r} does not exist", field="project")
    return found


def update_settings(
    ctx: Context,
    actor: str,
    project: str,
    settings: ProjectSettings,
    *,
    reason: str | None = None,
    bypass: str | None = None,
    settings_seen: ProjectSettings | None = None,
) -> ProjectSettings:
    """Replace the project's governance settings now; audited as ``project.settings``.

    No policy: a front end calls :func:`propose_settings`, which decides whether this may
    apply at once. ``bypass`` flags the audit row (``break_glass``).
    """
    why = parse_reason(reason)
    with change(ctx, project, actor, settings_seen=settings_seen) as ch:
        write_settings(ch, settings, reason=why, bypass=bypass)
    return settings


def propose_settings(
    ctx: Context,
    who: Principal,
    project: str,
    wanted: ProjectSettings,
    *,
    reason: str | None,
    ttl: timedelta,
    keep: Collection[str] = (),
) -> Applied[ProjectSettings] | Opened:
    """Apply ``wanted`` now, or open a ``project.settings`` change request if it weakens
    governance under four-eyes.

    ``keep`` names settings the request did not give (``gate_policy``, ``static_policy``):
    they keep their current values instead of going back to the defaults.

    Strengthening (more protected labels, four-eyes on, a stricter gate) applies at once.
    Weakening (four-eyes off, a label unprotected, a gate or static check loosened:
    ``eval_policy.weakenings``) needs a second admin's approval while four-eyes is on; the
    instance admin key applies it at once as break-glass, flagged in the audit row.

    Raises:
        PermissionDeniedError: ``who`` is not an admin of ``project``.
    """
    check(who, project, Role.admin)
    current = get_settings(ctx, project)
    kept = {name: getattr(current, name) for name in keep if name in KEEPABLE}
    wanted = dataclasses.replace(wanted, **kept) if kept else wanted
    given_up = weakenings(current, wanted) + eval_policy.weakenings(current, wanted)
    weaker = current.four_eyes and bool(given_up)
    if weaker and who.project is not None:
        return Opened(
            change_requests.open_settings_change(
                ctx, who.actor, project, current, wanted, reason=reason, ttl=ttl
            )
        )
    bypass = BREAK_GLASS if weaker else None
    return Applied(
        update_settings(
            ctx, who.actor, project, wanted, reason=reason, bypass=bypass, settings_seen=current
        )
    )


def check_decider_role(who: Principal, project: str, request: ChangeRequest | None) -> None:
    """A change request is decided by a releaser; a ``project.settings`` one by an admin.

    Raises:
        PermissionDeniedError: naming the role needed.
    """
    check(who, project, Role.releaser)
    if request is not None and request.kind == AuditAction.PROJECT_SETTINGS:
        check(who, project, Role.admin)


def _check_decider(ctx: Context, who: Principal, project: str, request_id: str) -> None:
    check(who, project, Role.releaser)
    with ctx.store.unit_of_work() as uow:
        found = uow.get_change_request(project, request_id) if len(request_id) <= 40 else None
    check_decider_role(who, project, found)


def approve_request(
    ctx: Context, who: Principal, project: str, request_id: str, reason: Any = None
) -> tuple[ChangeRequest, dict[str, Any]]:
    """Approve a change request and apply it (``change_requests.approve``).

    Raises:
        PermissionDeniedError: ``who`` may not decide it (a settings change needs an admin).
    """
    _check_decider(ctx, who, project, request_id)
    return change_requests.approve(ctx, who.actor, project, request_id, reason)


def reject_request(
    ctx: Context, who: Principal, project: str, request_id: str, reason: Any = None
) -> ChangeRequest:
    """Reject a change request (``change_requests.reject``), checked as ``approve_request``."""
    _check_decider(ctx, who, project, request_id)
    return change_requests.reject(ctx, who.actor, project, request_id, reason)


def bypass_for(
    settings: ProjectSettings, label: str, *, instance_key: bool, rollback: bool = False
) -> str | None:
    """Why a change of ``label`` skips four-eyes (the audit flag), or ``None`` when it does not.

    A rollback never waits (incident speed); the instance admin key is break-glass. Both are
    flagged only where four-eyes would otherwise apply.
    """
    if not settings.needs_approval(label):
        return None
    if rollback:
        return ROLLBACK
    return BREAK_GLASS if instance_key else None


def check_label(ctx: Context, who: Principal, project: str, label: str) -> ProjectSettings:
    """Check ``who`` may change ``label`` of ``project``; returns the project's settings.

    The project check comes first, so a key of another project gets 403 before anything of
    this project (even whether it exists) is read.
    """
    check(who, project, Role.editor)
    settings = get_settings(ctx, project)
    check(who, project, label_role(settings, label))
    return settings


def opens_request(settings: ProjectSettings, who: Principal, label: str) -> bool:
    """Four-eyes applies: a protected label, and a project key (the instance key is break-glass)."""
    return settings.needs_approval(label) and who.project is not None


def _require_precondition(
    settings: ProjectSettings, label: str, expected_version: int | None, expect_absent: bool
) -> None:
    """A protected label is only moved by a caller who says what it replaces."""
    if settings.protects(label) and expected_version is None and not expect_absent:
        raise PreconditionRequiredError(
            f"label {label!r} is protected: say which version it points at now, so a move made "
            'meanwhile is not overwritten; send "expected_version": <that version> (or null if '
            "the label does not exist yet), or the header If-Match with the label's ETag "
            "(GET .../labels/{label})",
            field="expected_version",
        )


def propose_move(
    ctx: Context,
    who: Principal,
    project: str,
    prompt: str,
    label: str,
    version: int,
    *,
    expected_version: int | None,
    expect_absent: bool,
    reason: str | None,
    ttl: timedelta,
    override_gate: Any = None,
) -> Applied[LabelMove | None] | Opened:
    """Move ``label`` to ``version`` now, or open a change request where four-eyes applies.

    A protected label needs a precondition (``expected_version``, or ``expect_absent``); an
    opened request records it and its approval re-checks it. ``override_gate`` (an admin's
    reason) promotes despite the evaluation gate, audited as ``gate.override``.

    Raises:
        PermissionDeniedError: ``who`` may not change ``label``, or asks to override the gate
            without the admin role.
        PreconditionRequiredError: ``label`` is protected and no precondition was given (428).
        GateRefusedError: the evaluation gate refuses the version (409).
    """
    settings = check_label(ctx, who, project, label)
    override = eval_gate.parse_override(who, project, override_gate)
    _require_precondition(settings, label, expected_version, expect_absent)
    if opens_request(settings, who, label):
        return Opened(
            change_requests.open_label_move(
                ctx,
                who.actor,
                project,
                prompt,
                label,
                version,
                expected_version=expected_version,
                expect_absent=expect_absent,
                reason=reason,
                ttl=ttl,
                override_gate=override,
            )
        )
    bypass = bypass_for(settings, label, instance_key=who.project is None)
    move = labels.move_label(
        ctx,
        who.actor,
        project,
        prompt,
        label,
        version,
        expected_version=expected_version,
        expect_absent=expect_absent,
        reason=reason,
        bypass=bypass,
        settings_seen=settings,
        override=override,
    )
    return Applied(move, bypass if move is not None else None)


def propose_release(
    ctx: Context,
    who: Principal,
    project: str,
    fields: dict[str, Any],
    *,
    ttl: timedelta,
    override_gate: Any = None,
) -> Applied[Release] | Opened:
    """Start a release now, or open a change request where four-eyes applies.

    ``fields`` are ``releases.plan_release``'s keywords; ``who`` holds the releaser role.
    ``override_gate`` as in :func:`propose_move`.
    """
    override = eval_gate.parse_override(who, project, override_gate)
    settings = get_settings(ctx, project)
    label = fields["label"]
    if opens_request(settings, who, label):
        return Opened(
            change_requests.open_release_start(
                ctx, who.actor, project, fields, ttl=ttl, override_gate=override
            )
        )
    bypass = bypass_for(settings, label, instance_key=who.project is None)
    release = releases.start_release(
        ctx,
        who.actor,
        project,
        bypass=bypass,
        settings_seen=settings,
        override=override,
        **fields,
    )
    return Applied(release)


def remove_label(
    ctx: Context, who: Principal, project: str, prompt: str, label: str, reason: str | None
) -> None:
    """Remove ``label``; under four-eyes only the instance admin key may (break-glass).

    Raises:
        PermissionDeniedError: ``who`` may not remove ``label``.
    """
    settings = check_label(ctx, who, project, label)
    if opens_request(settings, who, label):
        raise PermissionDeniedError(
            f"label {label!r} is protected and project {project!r} has four-eyes on: removing it "
            "needs the instance admin key (break-glass), or turn four_eyes off in the project settings",
            field="label",
        )
    bypass = bypass_for(settings, label, instance_key=who.project is None)
    labels.delete_label(
        ctx, who.actor, project, prompt, label, reason, bypass, settings_seen=settings
    )


def roll_back_label(
    ctx: Context,
    who: Principal,
    project: str,
    prompt: str,
    label: str,
    *,
    to_version: int | None,
    reason: str | None,
) -> LabelMove | None:
    """Roll ``label`` back (``labels.rollback_label``): never waits for four-eyes, flagged when
    it skips it.

    Raises:
        PermissionDeniedError: ``who`` may not change ``label``.
    """
    settings = check_label(ctx, who, project, label)
    return labels.rollback_label(
        ctx,
        who.actor,
        project,
        prompt,
        label,
        to_version=to_version,
        reason=reason,
        bypass=bypass_for(settings, label, instance_key=who.project is None, rollback=True),
        settings_seen=settings,
    )
