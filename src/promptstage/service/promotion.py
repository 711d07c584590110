"""The promotion door: the one function through which a label comes to serve a new version.

Three paths make a label serve a version, and each goes through :func:`promote`:

- a **label move**, direct (``PUT .../labels/{label}``) or applied by an approved change
  request (``labels.move_in``);
- a **release start**, which exposes the candidate to its first share of the label's traffic
  (``releases.start_in``);
- a **release promotion**, by hand or by the controller at the end of a ramp, which moves the
  label to the candidate (``releases.promote``).

``promote`` asks the context's gate (``service/gate.py``; the evaluation gate plugs in there),
then writes the change, its audit row and its outbox event, all in the caller's transaction, so
a refusal leaves nothing behind. A rollback is deliberately not a promotion: :func:`roll_back`
moves a label back without asking the gate, because undoing harm must never wait on an
evaluation. A ramp's later steps (``release_changes.apply_action``) only widen the share of a
candidate that passed the door when its release started.

``tests/service/test_promotion.py`` proves there is no fourth door: only this module writes
what a label serves, and every path above reaches the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.models import LabelMove, Version
from promptstage.domain.releases import Release, ReleaseChange
from promptstage.domain.wire import version_json

from .context import Change
from .gate import Candidate, PromotionPath
from .release_changes import record_release
from .tracing import Attribute


@dataclass(frozen=True, slots=True)
class MoveTo:
    """Point ``label`` of ``prompt`` at ``target`` (from ``previous``).

    ``bypass`` flags the audit row: ``after.four_eyes_bypass`` says why a protected label under
    four-eyes moved without an approval (``break_glass``). ``change_request`` names the approved
    request that applies the move; ``release_id`` the release whose promotion it completes.
    """

    prompt: str
    label: str
    target: Version
    previous: int | None
    reason: str
    bypass: str | None = None
    change_request: str | None = None
    release_id: str | None = None
    override: str | None = None


@dataclass(frozen=True, slots=True)
class Expose:
    """Start ``release``: its candidate gets the release's first share of the label's traffic.

    ``reason`` is the reason given for the start (the release row says ``started`` when none
    was given; its history entry and audit row keep what was given).
    """

    release: Release
    target: Version
    reason: str
    bypass: str | None = None
    change_request: str | None = None
    override: str | None = None


@overload
def promote(ch: Change, step: MoveTo) -> LabelMove: ...
@overload
def promote(ch: Change, step: Expose) -> Release: ...
def promote(ch: Change, step: MoveTo | Expose) -> LabelMove | Release:
    """Ask the gate about ``step``'s candidate, then apply it with its audit row and event.

    Raises:
        PromptstageError: whatever the gate raises to refuse the candidate (nothing is written).
    """
    if isinstance(step, Expose):
        release = step.release
        candidate = Candidate(
            ch.project,
            release.prompt,
            release.label,
            step.target,
            AuditAction.RELEASE_START,
            ch.actor,
            step.change_request,
            release.id,
            step.override,
        )
    else:
        path: PromotionPath = (
            AuditAction.LABEL_MOVE if step.release_id is None else AuditAction.RELEASE_PROMOTE
        )
        candidate = Candidate(
            ch.project,
            step.prompt,
            step.label,
            step.target,
            path,
            ch.actor,
            step.change_request,
            step.release_id,
            step.override,
        )
    attributes: dict[str, Attribute] = {
        "promptstage.project": ch.project,
        "promptstage.prompt": candidate.prompt,
        "promptstage.label": candidate.label,
        "promptstage.version": candidate.version.number,
        "promptstage.path": candidate.path,
    }
    with ch.ctx.tracer.span("promptstage.promote", attributes):
        report = ch.ctx.gate.check(ch.uow, candidate)
        gated = None if report is None else report.evidence
        if report is not None and report.overridden is not None:
            ch.record(
                AuditAction.GATE_OVERRIDE,
                f"prompt:{candidate.prompt}@{candidate.version.number}",
                before=None,
                after=report.overridden,
                reason=candidate.override or "",
            )
        if isinstance(step, Expose):
            return _expose(ch, step.release, step.reason, step.bypass, gated)
        return _move(
            ch,
            step.prompt,
            step.label,
            step.target,
            step.previous,
            step.reason,
            "move",
            step.bypass,
            gated,
        )


def roll_back(
    ch: Change,
    prompt: str,
    label: str,
    target: Version,
    previous: int,
    reason: str,
    bypass: str | None = None,
) -> LabelMove:
    """Move ``label`` back to ``target``: the ungated path, recorded as ``label.rollback``.

    Not a promotion: the gate is not asked, so a rollback is never held up by an evaluation.
    ``bypass`` flags the audit row as in :class:`MoveTo` (``rollback`` under four-eyes).
    """
    return _move(ch, prompt, label, target, previous, reason, "rollback", bypass)


def _move(
    ch: Change,
    prompt: str,
    label: str,
    target: Version,
    previous: int | None,
    reason: str,
    kind: str,
    bypass: str | None,
    gated: dict[str, Any] | None = None,
) -> LabelMove:
    """Point the label at ``target`` and record the move, its audit row and its event.

    ``gated`` (what the gate reported) is kept in the audit row's ``after.gate``.
    """
    attributes: dict[str, Attribute] = {
        "promptstage.project": ch.project,
        "promptstage.prompt": prompt,
        "promptstage.label": label,
        "promptstage.version": target.number,
        "promptstage.move": kind,
        "promptstage.actor": ch.actor,
    }
    if previous is not None:
        attributes["promptstage.previous_version"] = previous
    with ch.ctx.tracer.span("promptstage.label.move", attributes):
        return _write_move(ch, prompt, label, target, previous, reason, kind, bypass, gated)


def _write_move(
    ch: Change,
    prompt: str,
    label: str,
    target: Version,
    previous: int | None,
    reason: str,
    kind: str,
    bypass: str | None,
    gated: dict[str, Any] | None,
) -> LabelMove:
    """The writes of :func:`_move`: the label, the move, its audit row and its event."""
    ch.uow.set_label(ch.project, prompt, label, target.number, ch.at)
    move = LabelMove(prompt, label, target.number, previous, ch.actor, reason, ch.at, kind)
    ch.uow.add_label_move(ch.project, move)
    ch.record(
        AuditAction(f"label.{kind}"),
        f"label:{prompt}/{label}",
        before={"version": previous},
        after=bypass_after(target.number, bypass, gated),
        reason=reason,
        event=outbox_event(
            EventType.LABEL_MOVED,
            {
                "prompt": prompt,
                "label": label,
                "version": target.number,
                "previous": previous,
                "kind": kind,
                "version_data": version_json(target),
            },
        ),
    )
    return move


def _expose(
    ch: Change,
    release: Release,
    reason: str,
    bypass: str | None,
    gated: dict[str, Any] | None = None,
) -> Release:
    """Store the new release, its first history entry, its audit row and its event."""
    ch.uow.add_release(release)
    ch.uow.add_release_change(
        ReleaseChange(
            release.id, ch.at, ch.actor, "start", None, "running", 0, release.weight_bps, reason
        )
    )
    record_release(ch, AuditAction.RELEASE_START, None, release, reason, bypass, gated)
    return release


def bypass_after(
    version: int | None, bypass: str | None, gated: dict[str, Any] | None = None
) -> dict[str, object]:
    """A label change's audit ``after``: the version, flagged with ``four_eyes_bypass`` if any,
    and what the gate reported (``gate``) if it reported anything."""
    after: dict[str, object] = {"version": version}
    if bypass is not None:
        after["four_eyes_bypass"] = bypass
    if gated is not None:
        after["gate"] = gated
    return after
