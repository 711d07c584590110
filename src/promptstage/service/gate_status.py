"""Where the evaluation gate's results show: a version's gate status per gated label.

``GET .../prompts/{name}/versions/{n}`` and ``promptstage prompts show`` answer, for every
label the project gates, whether that label may serve the version now, computed with the same
``decide`` the promotion door uses (``service/eval_gate.py``), and list the overrides that let
the version through anyway (the ``gate.override`` audit rows).
"""

from __future__ import annotations

from typing import Any

from promptstage.domain.events import AuditAction
from promptstage.domain.models import iso_utc
from promptstage.store.base import UnitOfWork

from .context import Context
from .eval_gate import EvalGate, assess, decision_json, failure
from .eval_policy import gate_policies
from .prompts import require_prompt, require_version


def overrides_of(uow: UnitOfWork, project: str, prompt: str, number: int) -> list[dict[str, Any]]:
    """The ``gate.override`` audit rows of version ``number`` of ``prompt``, oldest first."""
    target = f"prompt:{prompt}@{number}"
    out = []
    for record in uow.iter_audit(project):
        if record.action != AuditAction.GATE_OVERRIDE or record.target != target:
            continue
        after = record.after if isinstance(record.after, dict) else {}
        out.append({
            "seq": record.seq, "at": iso_utc(record.at), "actor": record.actor,
            "reason": record.reason, "label": after.get("label"), "path": after.get("path"),
            "release_id": after.get("release_id"), "reasons": after.get("reasons", []),
            "verdicts": after.get("verdicts", []),
        })  # fmt: skip
    return out


def gate_status(ctx: Context, project: str, prompt: str, number: int) -> dict[str, Any] | None:
    """``{label: {allowed, reasons, verdicts, overrides}}`` for version ``number``.

    Every gated label appears, and every label the version was promoted to by an override.
    ``None`` when the server runs without the evaluation gate (``eval_gate`` off).

    Raises:
        NotFoundError: the prompt or the version does not exist.
    """
    gate = ctx.gate
    if not isinstance(gate, EvalGate):
        return None
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        version = require_version(uow, project, prompt, number)
        settings = uow.project_settings(project)
        policies = gate_policies(settings) if settings is not None else None
        out: dict[str, Any] = {}
        for label in sorted(policies or {}):
            try:
                found = assess(uow, gate.source, project, label, version, policies)
            except Exception as exc:  # shown as blocked, like the door would decide
                out[label] = {**decision_json(failure(label, exc)), "overrides": []}
                continue
            if found is not None:
                out[label] = {**decision_json(found.decision), "overrides": []}
        for override in overrides_of(uow, project, prompt, number):
            label = str(override["label"])
            entry = out.setdefault(
                label,
                {"allowed": True, "reasons": [f"label {label} has no gate"], "verdicts": []},
            )
            entry.setdefault("overrides", []).append(override)
    return out
