"""Governance values: a project's protected labels and four-eyes switch, and change requests.

A change request is a protected change (a label move or a release start) waiting for a second
releaser, or a change of the settings that weakens them (``weakenings``) waiting for a second
admin. It is bound to the target version's content digest, so what gets approved is exactly
what was reviewed. Its state is derived from the clock as well as stored: an ``open`` request
whose ``expires_at`` has passed reads as ``expired`` without anyone writing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .events import AuditAction
from .models import iso_utc

DEFAULT_PROTECTED = ("prod",)
KINDS = (  # the audit action it applies
    AuditAction.LABEL_MOVE,
    AuditAction.RELEASE_START,
    AuditAction.PROJECT_SETTINGS,
)
STATES = ("open", "approved", "rejected", "expired")
MAX_PROTECTED = 50


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """What a project protects: labels needing ``releaser``, whether four-eyes is on, and the
    longest lifetime a key of a person may have."""

    protected_labels: tuple[str, ...] = DEFAULT_PROTECTED
    four_eyes: bool = True
    max_key_lifetime_days: int | None = None  # the longest a person's key may live; None: any
    # The evaluation gate per label, ``{labels: {LABEL: {suites: [...]}}}`` as
    # ``evals.gate_policy.parse_gate_policies`` reads it (normalised); None: the default gate.
    gate_policy: dict[str, Any] | None = None
    # Severity per static check kind, ``{kind: block|warn|off}`` (normalised, every kind
    # named); None: the default (``evals.static_checks.DEFAULT_SEVERITIES``).
    static_policy: dict[str, str] | None = None

    def protects(self, label: str) -> bool:
        return label in self.protected_labels

    def needs_approval(self, label: str) -> bool:
        """A change of ``label`` needs a second releaser (before break-glass exceptions)."""
        return self.four_eyes and label in self.protected_labels


def weakenings(before: ProjectSettings, after: ProjectSettings) -> list[str]:
    """What ``after`` gives up that ``before`` enforced, one phrase each; empty: not weaker.

    A change that only adds protection is not weaker, whatever else it reorders. The evaluation
    gate and static check policies are compared by ``service.eval_policy.weakenings`` (they need
    the evals defaults), which ``service.governance.propose_settings`` adds to these.
    """
    found = []
    if before.four_eyes and not after.four_eyes:
        found.append("four_eyes turned off")
    unprotected = [label for label in before.protected_labels if not after.protects(label)]
    if unprotected:
        found.append(f"labels no longer protected: {', '.join(unprotected)}")
    old, new = before.max_key_lifetime_days, after.max_key_lifetime_days
    if old is not None and (new is None or new > old):
        found.append(f"people's keys may live longer: {old} -> {new or 'no limit'} days")
    return found


def settings_json(settings: ProjectSettings) -> dict[str, Any]:
    """The wire form of the settings (also a settings change request's ``params``).

    ``gate_policy`` and ``static_policy`` appear only when the project set them (absent: the
    defaults, docs/evals.md).
    """
    out: dict[str, Any] = {
        "protected_labels": list(settings.protected_labels),
        "four_eyes": settings.four_eyes,
        "max_key_lifetime_days": settings.max_key_lifetime_days,
    }
    if settings.gate_policy is not None:
        out["gate_policy"] = settings.gate_policy
    if settings.static_policy is not None:
        out["static_policy"] = settings.static_policy
    return out


def settings_from_json(data: dict[str, Any]) -> ProjectSettings:
    """The settings whose wire form is ``data`` (as stored by ``settings_json``)."""
    return ProjectSettings(
        tuple(data["protected_labels"]),
        bool(data["four_eyes"]),
        data.get("max_key_lifetime_days"),  # absent in requests opened before the setting
        data.get("gate_policy"),
        data.get("static_policy"),
    )


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """A protected change waiting for (or decided by) a second releaser (a second admin for
    ``project.settings``, whose ``prompt``, ``label`` and ``digest`` are ``""`` and ``version`` 0)."""

    id: str
    project: str
    kind: str  # label.move | release.start | project.settings
    prompt: str
    label: str
    version: int  # the label's target, or the release's candidate
    digest: str  # the content digest of ``version`` when the request was opened
    expected_version: int | None  # the label must still point here on approval (if given)
    # release.start: the release's fields; label.move: {} or {"expect_absent": true};
    # project.settings: {"before": ..., "after": ...} (settings_json), before must still hold
    params: dict[str, Any]
    reason: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    state: str = "open"
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def state_at(self, now: datetime) -> str:
        """``state``, with an undecided request past ``expires_at`` reading as ``expired``."""
        if self.state == "open" and now >= self.expires_at:
            return "expired"
        return self.state


def change_request_json(cr: ChangeRequest, now: datetime) -> dict[str, Any]:
    """The wire form of a change request as seen at ``now``."""
    return {
        "id": cr.id,
        "project": cr.project,
        "kind": cr.kind,
        "prompt": cr.prompt,
        "label": cr.label,
        "version": cr.version,
        "digest": cr.digest,
        "expected_version": cr.expected_version,
        "params": cr.params,
        "reason": cr.reason,
        "state": cr.state_at(now),
        "requested_by": cr.requested_by,
        "created_at": iso_utc(cr.created_at),
        "expires_at": iso_utc(cr.expires_at),
        "decided_by": cr.decided_by,
        "decided_at": iso_utc(cr.decided_at) if cr.decided_at else None,
        "decision_reason": cr.decision_reason,
    }
