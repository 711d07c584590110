"""Applying one state change to a release inside a ``Change``: the row, its history entry, its
audit row and its ``release.changed`` outbox event, all in the caller's transaction.

Every path that changes a release goes through :func:`apply_action`: the API's manual actions,
the controller's decisions, and a label rollback ending the label's release. The transition
itself is decided by :func:`promptstage.rollout.analysis.ramp.transition` (409 when not allowed).
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.releases import Release, ReleaseChange
from promptstage.domain.wire import release_runtime_json, version_json
from promptstage.errors import ConflictError
from promptstage.rollout.analysis.ramp import ReleaseAction, ReleaseState, transition
from promptstage.store.base import UnitOfWork

from .context import Change

FULL = 10_000


def runtime_versions(uow: UnitOfWork, release: Release) -> dict[str, Any]:
    """The ``versions`` map of a release's runtime form: its baseline and candidate."""
    out: dict[str, Any] = {}
    for number in (release.baseline_version, release.candidate_version):
        version = uow.get_version(release.project, release.prompt, number)
        if version is not None:
            out[f"{release.prompt}@{number}"] = version_json(version)
    return out


def _summary(r: Release) -> dict[str, Any]:
    return {
        "state": r.state,
        "step_index": r.step_index,
        "weight_bps": r.weight_bps,
        "flags": list(r.flags),
    }


def apply_action(
    ch: Change,
    release: Release,
    action: str,
    *,
    reason: str,
    flags: tuple[str, ...] | None = None,
) -> Release:
    """Apply ``action`` to ``release`` and record it; returns the release as stored.

    ``advance`` moves to the next step (the caller checks there is one); ``promote`` ends at
    100 % (the caller moves the label); ``rollback`` and ``abort`` end at 0 %.

    Raises:
        ConflictError: the action is not allowed in the release's state.
    """
    new_state = transition(cast(ReleaseState, release.state), cast(ReleaseAction, action))
    changes: dict[str, Any] = {"state": new_state, "updated_at": ch.at, "reason": reason}
    if action == "advance":
        if release.step_index + 1 >= len(release.steps):
            raise ConflictError(
                f"release {release.id} is at its last step; promote it instead", field="action"
            )
        changes.update(
            step_index=release.step_index + 1,
            step_started_at=ch.at,
            weight_bps=release.steps[release.step_index + 1].weight_bps,
        )
    elif action == "resume":
        changes.update(flags=())  # a person looked at the flags and chose to go on
    elif action == "promote":
        changes.update(weight_bps=FULL, ended_at=ch.at)
    elif action in ("rollback", "abort"):
        changes.update(weight_bps=0, ended_at=ch.at)
    if flags is not None:
        changes["flags"] = flags
    updated = dataclasses.replace(release, **changes)
    ch.uow.update_release(updated)
    ch.uow.add_release_change(
        ReleaseChange(
            release.id,
            ch.at,
            ch.actor,
            action,
            release.state,
            new_state,
            updated.step_index,
            updated.weight_bps,
            reason,
        )
    )
    record_release(ch, AuditAction(f"release.{action}"), release, updated, reason)
    return updated


def record_release(
    ch: Change,
    action: AuditAction,
    before: Release | None,
    after: Release,
    reason: str,
    bypass: str | None = None,
    gated: dict[str, Any] | None = None,
) -> None:
    """Write the audit row and the ``release.changed`` event of a release change.

    ``bypass`` adds ``four_eyes_bypass`` to the audit row's ``after`` (see ``promotion.MoveTo``);
    ``gated``, what the promotion gate reported, adds ``gate``.
    """
    flag: dict[str, Any] = {} if bypass is None else {"four_eyes_bypass": bypass}
    if gated is not None:
        flag["gate"] = gated
    ch.record(
        action,
        f"release:{after.id}",
        before=_summary(before) if before is not None else None,
        after={
            "prompt": after.prompt,
            "label": after.label,
            "baseline_version": after.baseline_version,
            "candidate_version": after.candidate_version,
            **_summary(after),
            **flag,
        },
        reason=reason,
        event=outbox_event(
            EventType.RELEASE_CHANGED,
            {
                "release": release_runtime_json(after, runtime_versions(ch.uow, after)),
                "action": action.removeprefix("release."),
                "actor": ch.actor,
                "reason": reason,
            },
        ),
    )


def end_active_release(ch: Change, prompt: str, label: str, reason: str) -> Release | None:
    """Roll back the active release of ``(prompt, label)``, if any (a label rollback does it)."""
    active = ch.uow.active_release(ch.project, prompt, label)
    if active is None:
        return None
    why = reason or "label rolled back"
    return apply_action(ch, active, "rollback", reason=why)
