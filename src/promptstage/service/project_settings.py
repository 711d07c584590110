"""Writing a project's governance settings: the one function that changes them, and the
validation of a settings change (``parse_settings``, re-exported by ``service.governance``).

A change that applies at once (``governance.propose_settings``) and an approved settings change
request (``change_requests.approve``) both write here, inside the caller's transaction, with the
``project.settings`` audit row.
"""

from __future__ import annotations

from typing import Any

from promptstage.domain import names
from promptstage.domain.events import AuditAction
from promptstage.domain.governance import MAX_PROTECTED, ProjectSettings, settings_json
from promptstage.errors import InvalidInputError

from . import eval_policy
from .context import Change
from .key_lifetime import max_key_lifetime


def write_settings(
    ch: Change, settings: ProjectSettings, *, reason: str = "", bypass: str | None = None
) -> None:
    """Replace the project's settings; ``bypass`` flags the audit row's ``after`` as
    ``four_eyes_bypass`` (a weakening applied without a second admin: ``break_glass``)."""
    before = ch.uow.project_settings(ch.project)
    ch.uow.set_project_settings(ch.project, settings)
    after: dict[str, Any] = settings_json(settings)
    if bypass is not None:
        after["four_eyes_bypass"] = bypass
    ch.record(
        AuditAction.PROJECT_SETTINGS,
        f"project:{ch.project}",
        before=settings_json(before) if before else None,
        after=after,
        reason=reason,
    )


def parse_settings(
    protected_labels: Any,
    four_eyes: Any,
    max_key_lifetime_days: Any = None,
    gate_policy: Any = None,
    static_policy: Any = None,
) -> ProjectSettings:
    """Validate the body of ``PUT .../settings``.

    ``gate_policy`` and ``static_policy`` are validated by ``service.eval_policy`` (``None``:
    the defaults).

    Raises:
        InvalidInputError: naming ``protected_labels[i]``, ``four_eyes``,
            ``max_key_lifetime_days``, ``gate_policy...`` or ``static_policy...``.
    """
    if not isinstance(protected_labels, list) or len(protected_labels) > MAX_PROTECTED:
        raise InvalidInputError(
            f'protected_labels must be a list of at most {MAX_PROTECTED} label names, e.g. ["prod"]',
            field="protected_labels",
        )
    seen: list[str] = []
    for index, label in enumerate(protected_labels):
        names.label_name(label, f"protected_labels[{index}]")
        if label not in seen:
            seen.append(label)
    if not isinstance(four_eyes, bool):
        raise InvalidInputError("four_eyes must be true or false", field="four_eyes")
    return ProjectSettings(
        tuple(seen),
        four_eyes,
        max_key_lifetime(max_key_lifetime_days),
        eval_policy.parse_gate_policy(gate_policy),
        eval_policy.parse_static(static_policy),
    )
