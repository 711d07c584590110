"""Four-eyes change requests: open, list, approve (which applies the change), reject.

A request is bound to the content digest of its target version and, for a label move with
``expected_version`` (or any release, whose baseline is recorded), to the label's version at
request time. Approval re-checks both inside the same transaction that applies the change:
a mismatch answers 409 and leaves the request open (nothing is written), so the approver can
reject it and the requester open a new one. Expiry is read, not written: an open request
past ``expires_at`` reads as ``expired`` and can no longer be approved.

A ``project.settings`` request (a weakening of the governance settings) is bound the same way
to the settings it was opened against: approving it after they changed answers 409.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from promptstage.domain import names
from promptstage.domain.events import AuditAction
from promptstage.domain.governance import (
    STATES,
    ChangeRequest,
    ProjectSettings,
    settings_from_json,
    settings_json,
)
from promptstage.domain.models import AuditRecord, iso_utc
from promptstage.domain.principals import principal_of
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from promptstage.store.base import GovernanceRepo, UnitOfWork

from .context import Change, Context, change, parse_reason
from .labels import move_in
from .pagination import check_limit, decode_time_cursor, page
from .principals import not_a_person, same_principal
from .project_settings import write_settings
from .prompts import require_project, require_prompt, require_version
from .releases import plan_release, start_in

APPLIED_ACTIONS = (AuditAction.LABEL_MOVE, AuditAction.RELEASE_START)


def _open(ch: Change, request: ChangeRequest) -> ChangeRequest:
    ch.uow.add_change_request(request)
    ch.record(
        AuditAction.CHANGE_REQUEST_OPEN,
        f"change_request:{request.id}",
        before=None,
        after={
            "kind": request.kind,
            "prompt": request.prompt,
            "label": request.label,
            "version": request.version,
            "digest": request.digest,
            "expected_version": request.expected_version,
            "expires_at": iso_utc(request.expires_at),
        },
        reason=request.reason,
    )
    return request


def _new(
    ch: Change,
    kind: str,
    prompt: str,
    label: str,
    version: int,
    digest: str,
    expected: int | None,
    params: dict[str, Any],
    reason: str,
    ttl: timedelta,
) -> ChangeRequest:
    return ChangeRequest(
        id=f"cr_{secrets.token_hex(8)}",
        project=ch.project,
        kind=kind,
        prompt=prompt,
        label=label,
        version=version,
        digest=digest,
        expected_version=expected,
        params=params,
        reason=reason,
        requested_by=ch.actor,
        created_at=ch.at,
        expires_at=ch.at + ttl,
    )


def open_label_move(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    label: str,
    version: int,
    *,
    expected_version: int | None,
    reason: str | None,
    ttl: timedelta,
    expect_absent: bool = False,
    override_gate: str | None = None,
) -> ChangeRequest:
    """Open a request to point ``label`` at ``version``; nothing else changes.

    The precondition (``expected_version``, or ``expect_absent``) is recorded and re-checked
    when the request is approved; so is an admin's ``override_gate`` reason (applied with it).
    """
    names.label_name(label)
    why = parse_reason(reason)
    with change(ctx, project, actor) as ch:
        require_prompt(ch.uow, project, prompt)
        target = require_version(ch.uow, project, prompt, version)
        return _open(
            ch,
            _new(
                ch,
                AuditAction.LABEL_MOVE,
                prompt,
                label,
                version,
                target.digest,
                expected_version,
                _with_override({"expect_absent": True} if expect_absent else {}, override_gate),
                why,
                ttl,
            ),
        )


def _with_override(params: dict[str, Any], override_gate: str | None) -> dict[str, Any]:
    """``params`` carrying an admin's gate override reason, if any."""
    return params if override_gate is None else {**params, "override_gate": override_gate}


def open_release_start(
    ctx: Context,
    actor: str,
    project: str,
    fields: dict[str, Any],
    *,
    ttl: timedelta,
    override_gate: str | None = None,
) -> ChangeRequest:
    """Open a request to start a release; ``fields`` are ``plan_release``'s keywords (and an
    admin's ``override_gate`` reason, applied with the approval)."""
    plan = plan_release(**fields)
    with change(ctx, project, actor) as ch:
        require_prompt(ch.uow, project, plan.prompt)
        target = require_version(
            ch.uow, project, plan.prompt, plan.candidate_version, "candidate_version"
        )
        baseline = ch.uow.get_labels(project, plan.prompt).get(plan.label)
        if baseline is None:
            raise NotFoundError(
                f"prompt {plan.prompt!r} has no label {plan.label!r}", field="label"
            )
        return _open(
            ch,
            _new(
                ch,
                AuditAction.RELEASE_START,
                plan.prompt,
                plan.label,
                plan.candidate_version,
                target.digest,
                baseline,
                _with_override(fields, override_gate),
                plan.reason,
                ttl,
            ),
        )


def open_settings_change(
    ctx: Context,
    actor: str,
    project: str,
    before: ProjectSettings,
    after: ProjectSettings,
    *,
    reason: str | None,
    ttl: timedelta,
) -> ChangeRequest:
    """Open a request to replace the project's settings ``before`` with ``after``."""
    why = parse_reason(reason)
    with change(ctx, project, actor, settings_seen=before) as ch:
        params = {"before": settings_json(before), "after": settings_json(after)}
        request = _new(ch, AuditAction.PROJECT_SETTINGS, "", "", 0, "", None, params, why, ttl)
        return _open(ch, request)


def list_requests(
    ctx: Context,
    project: str,
    *,
    state: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ChangeRequest], str | None]:
    """Requests newest first; ``state`` filters on the state as of now (``expired`` included).

    A page filtered on ``open`` or ``expired`` may hold fewer than ``limit`` items (both are
    stored as open); follow ``next_cursor`` until it is ``None``.
    """
    if state is not None and state not in STATES:
        raise InvalidInputError(
            f"state must be one of {list(STATES)}, got {state!r}", field="state"
        )
    check_limit(limit)
    before = decode_time_cursor(cursor)
    stored = None if state is None else (("open",) if state in ("open", "expired") else (state,))
    now = ctx.clock()
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.list_change_requests(project, states=stored, limit=limit + 1, before=before)
    found, next_cursor = page(rows, limit, lambda r: [iso_utc(r.created_at), r.id])
    if state is not None:
        found = [r for r in found if r.state_at(now) == state]
    return found, next_cursor


def _require_open(ch: Change, request_id: str) -> ChangeRequest:
    found = ch.uow.get_change_request(ch.project, request_id) if len(request_id) <= 40 else None
    if found is None:
        raise NotFoundError(
            f"no change request {request_id!r} in project {ch.project!r}", field="id"
        )
    state = found.state_at(ch.at)
    if state != "open":
        hint = "; open a new request" if state == "expired" else ""
        raise ConflictError(
            f"change request {request_id} is {state}, not open{hint}", field="id", state=state
        )
    refusal = decider_refusal(ch.uow, ch.project, ch.actor, found, approving=False)
    if refusal is not None:
        raise refusal
    return found


def decider_refusal(
    uow: UnitOfWork, project: str, actor: str, found: ChangeRequest, *, approving: bool
) -> PermissionDeniedError | None:
    """Why ``actor`` may not decide ``found`` (four-eyes), or ``None``: not its requester, not
    a service account, and (approving a move or a release) not the target version's author.
    The approval and the approvals page both ask this, so they never disagree."""
    if same_principal(found.requested_by, actor):  # principals, never keys
        return PermissionDeniedError(
            f"change request {found.id} was opened by {found.requested_by}: four-eyes needs "
            f"a different releaser than {principal_of(actor)} (another key of the same "
            "principal does not count) to decide it",
            field="Authorization",
        )
    refusal = not_a_person(uow, project, actor, found.id)
    if refusal is not None or not approving or found.kind == AuditAction.PROJECT_SETTINGS:
        return refusal
    target = uow.get_version(project, found.prompt, found.version)
    if target is not None and same_principal(target.author, actor):
        return PermissionDeniedError(
            f"version {found.version} of {found.prompt!r} was written by {target.author}: "
            f"four-eyes needs a releaser other than its author {principal_of(actor)} (with "
            "any of their keys) to approve it",
            field="Authorization",
        )
    return None


def approve(
    ctx: Context, actor: str, project: str, request_id: str, reason: Any = None
) -> tuple[ChangeRequest, dict[str, Any]]:
    """Approve an open request and apply its change in the same transaction.

    Returns:
        The request as decided, and what was applied (``{"move": ...}`` or ``{"release_id": ...}``).

    Raises:
        PermissionDeniedError: the approver opened the request or wrote the target version.
        ConflictError: the request is not open, or the version or label changed since (409).
    """
    why = parse_reason(reason)
    with change(ctx, project, actor) as ch:
        found = _require_open(ch, request_id)
        if found.kind == AuditAction.PROJECT_SETTINGS:
            return _approve_settings(ch, found, why)
        target = require_version(ch.uow, project, found.prompt, found.version)
        refusal = decider_refusal(ch.uow, project, actor, found, approving=True)
        if refusal is not None:
            raise refusal
        if target.digest != found.digest:
            raise ConflictError(
                f"version {found.version} of {found.prompt!r} no longer has the digest this request "
                f"was opened for ({found.digest}); reject it and open a new request",
                field="digest",
            )
        _mark_approved(ch, found, why)
        applied: dict[str, Any]
        if found.kind == AuditAction.LABEL_MOVE:
            move = move_in(
                ch,
                found.prompt,
                found.label,
                found.version,
                found.expected_version,
                bool(found.params.get("expect_absent")),
                found.reason or f"change request {found.id}",
                change_request=found.id,
                override=found.params.get("override_gate"),
            )
            applied = {"moved": move is not None}
        else:
            current = ch.uow.get_labels(project, found.prompt).get(found.label)
            if current != found.expected_version:
                raise ConflictError(
                    f"label {found.label!r} points at version {current}, not the baseline "
                    f"{found.expected_version} this request was opened against; reject it and "
                    "open a new one",
                    field="expected_version",
                    current_version=current,
                )
            fields = {k: v for k, v in found.params.items() if k != "override_gate"}
            override = found.params.get("override_gate")
            plan = plan_release(**fields)
            started = start_in(ch, plan, change_request=found.id, override=override)
            applied = {"release_id": started.id}
        decided = ch.uow.get_change_request(project, found.id)
    assert decided is not None
    return decided, applied


def _mark_approved(ch: Change, found: ChangeRequest, why: str) -> None:
    """Store the approval of ``found`` and its audit row."""
    ch.uow.decide_change_request(ch.project, found.id, "approved", ch.actor, ch.at, why)
    ch.record(
        AuditAction.CHANGE_REQUEST_APPROVE,
        f"change_request:{found.id}",
        before={"state": "open"},
        after={"state": "approved", "digest": found.digest, "requested_by": found.requested_by},
        reason=why,
    )


def _approve_settings(
    ch: Change, found: ChangeRequest, why: str
) -> tuple[ChangeRequest, dict[str, Any]]:
    """Approve a ``project.settings`` request: its settings replace the ones it was opened on."""
    if ch.uow.project_settings(ch.project) != settings_from_json(found.params["before"]):
        raise ConflictError(
            f"the settings of project {ch.project!r} changed since change request {found.id} was "
            "opened; reject it and open a new one against the current settings",
            field="settings",
        )
    _mark_approved(ch, found, why)
    after = settings_from_json(found.params["after"])
    write_settings(ch, after, reason=found.reason or f"change request {found.id}")
    decided = ch.uow.get_change_request(ch.project, found.id)
    assert decided is not None
    return decided, {"settings": settings_json(after)}


def reject(
    ctx: Context, actor: str, project: str, request_id: str, reason: Any = None
) -> ChangeRequest:
    """Reject an open request (by a releaser other than its requester); nothing else changes."""
    why = parse_reason(reason)
    with change(ctx, project, actor) as ch:
        found = _require_open(ch, request_id)
        ch.uow.decide_change_request(project, found.id, "rejected", actor, ch.at, why)
        ch.record(
            AuditAction.CHANGE_REQUEST_REJECT,
            f"change_request:{found.id}",
            before={"state": "open"},
            after={"state": "rejected"},
            reason=why,
        )
        decided = ch.uow.get_change_request(project, found.id)
    assert decided is not None
    return decided


def approvals(uow: GovernanceRepo, record: AuditRecord) -> list[dict[str, Any]]:
    """The evidence export's approvals hook: who approved the change ``record`` applied."""
    if record.action not in APPLIED_ACTIONS or not isinstance(record.after, dict):
        return []
    prompt_label = record.target.removeprefix("label:").split("/", 1)
    out = []
    for cr in uow.change_requests_decided_at(record.project, record.at):
        if cr.decided_by != record.actor:  # the approver's transaction wrote the change
            continue
        if record.action == AuditAction.LABEL_MOVE and [cr.prompt, cr.label] != prompt_label:
            continue
        if record.action == AuditAction.RELEASE_START and (cr.prompt, cr.label) != (
            record.after.get("prompt"),
            record.after.get("label"),
        ):
            continue
        out.append(
            {
                "change_request": cr.id,
                "approved_by": cr.decided_by,
                "approved_at": iso_utc(cr.decided_at) if cr.decided_at else None,
                "requested_by": cr.requested_by,
                "version": cr.version,
                "digest": cr.digest,
            }
        )
    return out
