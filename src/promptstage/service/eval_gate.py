"""The evaluation gate: a label serves a version only if the version passed its required evals.

:class:`EvalGate` implements the promotion door's :class:`~promptstage.service.gate.Gate`. For
a candidate of a label the project gates (``service.eval_policy``; default: ``prod`` needs
``builtin/security`` at 100 % of its deterministic probes) it builds the triple the eval runs
are bound to (the version's digest, the digest of the model snapshot in its config, and the
current digest of every required suite) and asks ``evals.gate_policy.decide`` with the runs a
:class:`RunSource` gives. A refusal is a :class:`~promptstage.errors.GateRefusedError` (409)
naming the suites and cases, with the verdicts in its details.

Fail closed: whatever ``decide`` does not allow blocks, and so does any exception raised while
deciding (a bug in the gate refuses, it never lets a version through). An admin's override
(``Candidate.override``, a reason) lets a refused candidate through; the door records it as a
``gate.override`` audit row with the verdicts it overrode. A release started under an override
may complete on it (its promotion finds the override of its start). Rollback never asks.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptstage.domain.events import AuditAction
from promptstage.domain.models import Role, Version
from promptstage.errors import (
    ConfigurationError,
    GateRefusedError,
    InvalidInputError,
    NotFoundError,
    PromptstageError,
)
from promptstage.evals.gate_policy import (
    Candidate as EvalCandidate,
)
from promptstage.evals.gate_policy import (
    GateDecision,
    GatePolicy,
    SuiteRun,
    SuiteVerdict,
    decide,
    model_snapshot_digest,
)
from promptstage.store.base import UnitOfWork

from .access import check
from .context import MAX_REASON, parse_reason
from .eval_policy import gate_policies
from .gate import Candidate, Gate, GateReport, OpenGate
from .keys import Principal

log = logging.getLogger(__name__)
EVAL_GATE_OFF = (
    "the evaluation gate is OFF (PROMPTSTAGE_EVAL_GATE=0): versions reach gated labels such as "
    "prod without passing their eval suites; turn it on outside development"
)


class RunSource(Protocol):
    """Where the gate reads eval runs and suite digests (``service/eval_runs.py`` at merge)."""

    def runs(self, uow: UnitOfWork, project: str, version_digest: str) -> Sequence[SuiteRun]:
        """Every finished, failed, interrupted or cancelled run of that version, oldest first."""
        ...

    def suite_digests(self, uow: UnitOfWork, project: str, names: Sequence[str]) -> dict[str, str]:
        """The current digest of each named suite that exists (built-ins included)."""
        ...


@dataclass(frozen=True, slots=True)
class Assessment:
    """A decision and the runs it was made with (for the evidence of the promotion)."""

    decision: GateDecision
    runs: tuple[SuiteRun, ...]
    version_digest: str
    model_snapshot: str


def model_snapshot_of(version: Version) -> str:
    """The digest of the model snapshot ``version``'s config pins (model and params)."""
    config = version.config
    return model_snapshot_digest(config["model"], config.get("params") or {})


def assess(
    uow: UnitOfWork,
    source: RunSource,
    project: str,
    label: str,
    version: Version,
    policies: Mapping[str, GatePolicy] | None = None,
) -> Assessment | None:
    """Decide whether ``label`` may serve ``version``; ``None`` when the label has no gate.

    Raises:
        NotFoundError: the project does not exist.
    """
    if policies is None:
        settings = uow.project_settings(project)
        if settings is None:
            raise NotFoundError(f"project {project!r} does not exist", field="project")
        policies = gate_policies(settings)
    policy = policies.get(label)
    if policy is None or not policy.requirements:
        return None
    suites = [r.suite for r in policy.requirements]
    snapshot = model_snapshot_of(version)
    candidate = EvalCandidate(
        version.digest, snapshot, dict(source.suite_digests(uow, project, suites))
    )
    runs = tuple(r for r in source.runs(uow, project, version.digest) if r.suite in suites)
    return Assessment(decide(policies, label, candidate, runs), runs, version.digest, snapshot)


def verdict_json(verdict: SuiteVerdict) -> dict[str, Any]:
    """The wire form of one suite's verdict."""
    return {
        "suite": verdict.suite,
        "passed": verdict.passed,
        "reason": verdict.reason,
        "run_id": verdict.run_id,
        "pass_rate": verdict.pass_rate,
        "failing_cases": list(verdict.failing_cases),
    }


def decision_json(decision: GateDecision) -> dict[str, Any]:
    """``{allowed, reasons, verdicts}`` of a decision."""
    return {
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "verdicts": [verdict_json(v) for v in decision.verdicts],
    }


def evidence_json(assessment: Assessment) -> dict[str, Any]:
    """What gated a promotion: the decision and the runs that counted (ids, suite digests,
    statuses, pass rates), kept in the promotion's audit row."""
    counted = {v.run_id for v in assessment.decision.verdicts if v.run_id is not None}
    rates = {v.run_id: v.pass_rate for v in assessment.decision.verdicts}
    return {
        "label": assessment.decision.label,
        **decision_json(assessment.decision),
        "version_digest": assessment.version_digest,
        "model_snapshot": assessment.model_snapshot,
        "runs": [
            {
                "run_id": r.run_id,
                "suite": r.suite,
                "suite_digest": r.suite_digest,
                "status": r.status.value,
                "pass_rate": rates.get(r.run_id),
            }
            for r in assessment.runs
            if r.run_id in counted
        ],
    }


def failure(label: str, exc: Exception) -> GateDecision:
    """The decision of a gate that failed: blocked, naming the failure (our own errors by
    their message, anything else by its type only: no internals in an answer)."""
    what = exc.message if isinstance(exc, PromptstageError) else type(exc).__name__
    reason = f"the evaluation gate failed ({what}) and blocks until it works; retry, or report this"
    return GateDecision(False, label, (reason,), ())


class _ModuleRunSource:
    """A :class:`RunSource` over ``service/eval_runs.py``'s functions."""

    __slots__ = ("module",)

    def __init__(self, module: Any) -> None:
        self.module = module

    def runs(self, uow: UnitOfWork, project: str, version_digest: str) -> Sequence[SuiteRun]:
        runs: Sequence[SuiteRun] = self.module.suite_runs(uow, project, version_digest)
        return runs

    def suite_digests(self, uow: UnitOfWork, project: str, names: Sequence[str]) -> dict[str, str]:
        digests: dict[str, str] = self.module.suite_digests(uow, project, names)
        return digests


class _NoRunStore:
    """The source when this build has no eval run store: every gated promotion blocks."""

    __slots__ = ()

    def _missing(self) -> ConfigurationError:
        return ConfigurationError(
            "this server has no eval run store (service/eval_runs.py is missing)",
            field="eval_gate",
        )

    def runs(self, uow: UnitOfWork, project: str, version_digest: str) -> Sequence[SuiteRun]:
        raise self._missing()

    def suite_digests(self, uow: UnitOfWork, project: str, names: Sequence[str]) -> dict[str, str]:
        raise self._missing()


def build_gate(enabled: bool, run_source: RunSource | None = None) -> Gate:
    """The promotion gate of a server: the evaluation gate over ``run_source`` (default: the
    eval runs service), or, when ``enabled`` is off, an open gate and a loud warning."""
    if not enabled:
        log.warning(EVAL_GATE_OFF)
        return OpenGate()
    return EvalGate(run_source if run_source is not None else default_run_source())


def default_run_source() -> RunSource:
    """The eval runs service (``service/eval_runs.py``) as a :class:`RunSource`, imported
    lazily; without it, a source that fails closed (every gated promotion blocks)."""
    try:
        module = importlib.import_module("promptstage.service.eval_runs")
    except ImportError:
        return _NoRunStore()
    return _ModuleRunSource(module)


def _release_override(uow: UnitOfWork, candidate: Candidate) -> int | None:
    """The audit sequence of the override that started ``candidate``'s release, if any."""
    if candidate.release_id is None or candidate.path != AuditAction.RELEASE_PROMOTE:
        return None
    target = f"prompt:{candidate.prompt}@{candidate.version.number}"
    for record in uow.iter_audit(candidate.project):
        after = record.after if isinstance(record.after, dict) else {}
        if (
            record.action == AuditAction.GATE_OVERRIDE
            and record.target == target
            and after.get("release_id") == candidate.release_id
            and after.get("digest") == candidate.version.digest
        ):
            return record.seq
    return None


class EvalGate:
    """The promotion gate of SPEC §9 (see the module docstring)."""

    __slots__ = ("source",)

    def __init__(self, source: RunSource) -> None:
        self.source = source

    def check(self, uow: UnitOfWork, candidate: Candidate) -> GateReport | None:
        """Let ``candidate`` through if its label is ungated or its evals pass; else refuse.

        Raises:
            GateRefusedError: the gate blocks and no override applies (409, verdicts in details).
        """
        assessment: Assessment | None = None
        try:
            assessment = assess(
                uow, self.source, candidate.project, candidate.label, candidate.version
            )
            if assessment is None:
                return None
            decision = assessment.decision
            if decision.allowed:
                return GateReport(evidence_json(assessment))
            started_under = _release_override(uow, candidate)
        except Exception as exc:  # fail closed: a gate that cannot decide refuses
            log.exception("evaluation gate failed for %s", candidate.prompt)
            decision, started_under = failure(candidate.label, exc), None
        shown = (
            evidence_json(assessment)
            if assessment is not None and assessment.decision is decision
            else {"label": candidate.label, **decision_json(decision)}
        )
        if started_under is not None:
            return GateReport({**shown, "release_started_under_override": started_under})
        if candidate.override is not None:
            overridden = {
                "label": candidate.label,
                "version": candidate.version.number,
                "digest": candidate.version.digest,
                "path": str(candidate.path),
                "release_id": candidate.release_id,
                "change_request": candidate.change_request,
                "reasons": list(decision.reasons),
                "verdicts": [verdict_json(v) for v in decision.verdicts],
            }
            return GateReport({**shown, "overridden": True}, overridden)
        raise _refusal(candidate, decision)


def _refusal(candidate: Candidate, decision: GateDecision) -> GateRefusedError:
    n = candidate.version.number
    return GateRefusedError(
        f"the evaluation gate refuses version {n} of {candidate.prompt!r} for label "
        f"{candidate.label!r}: {'; '.join(decision.reasons)}. Run the required suites on "
        f"this version (promptstage eval run SUITE --prompt {candidate.prompt} --version {n}), "
        "or an admin may promote it anyway with a reason (override_gate, --override-gate)",
        field="version",
        label=candidate.label,
        version=n,
        reasons=list(decision.reasons),
        verdicts=[verdict_json(v) for v in decision.verdicts],
    )


def parse_override(who: Principal, project: str, override_gate: Any) -> str | None:
    """An admin's reason to promote despite the evaluation gate (``None``: no override).

    Raises:
        PermissionDeniedError: ``who`` is not an admin of ``project`` (403 naming the role).
        InvalidInputError: the reason is empty or not text.
    """
    if override_gate is None:
        return None
    check(who, project, Role.admin)
    if not isinstance(override_gate, str) or not override_gate.strip():
        raise InvalidInputError(
            "override_gate.reason must say why the evaluation gate is overridden "
            f"(1 to {MAX_REASON} characters); it is kept in the audit trail",
            field="override_gate.reason",
        )
    return parse_reason(override_gate)
