"""The gate: may a label serve a version, given the eval runs bound to it? (pure, fail closed)

A project has a policy per label: the suites a version must pass there and at which pass rate.
The default gates ``prod`` on ``builtin/security`` at 100 % of its deterministic probes.
``decide`` allows only when every required suite has a finished, complete run bound to the
candidate's exact triple (version digest, model snapshot digest, current suite digest) whose
pass rate meets the requirement, with no grader error and no unanswered judge. A missing run,
a run for another digest or model snapshot, a run still going, interrupted, cancelled or
failed: each blocks, and the reasons name the suites and cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from promptstage.domain.canonical import sha256_digest
from promptstage.domain.names import LABEL_NAME

from . import validation as v
from .results import CaseResult

SECURITY_SUITE = "builtin/security"
SCOPES = ("deterministic", "all")
MAX_SHOWN_CASES = 10


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SuiteRequirement:
    """``suite`` must pass at ``min_pass_rate`` (0..1) of its cases; ``scope`` ``deterministic``
    counts deterministic assertions only, ``all`` counts judged ones too."""

    suite: str
    min_pass_rate: float = 1.0
    scope: str = "deterministic"


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """The requirements of one label."""

    label: str
    requirements: tuple[SuiteRequirement, ...]


DEFAULT_POLICIES: Mapping[str, GatePolicy] = {
    "prod": GatePolicy("prod", (SuiteRequirement(SECURITY_SUITE, 1.0, "deterministic"),))
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """What is about to be served: the version's digest, the model snapshot it would run on,
    and the current digest of every suite by name."""

    version_digest: str
    model_snapshot: str
    suite_digests: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """The gate's view of one graded case."""

    case_id: str
    passed: bool
    deterministic_passed: bool
    has_deterministic: bool
    error: bool
    needs_judge: bool

    @classmethod
    def of(cls, result: CaseResult) -> CaseOutcome:
        return cls(
            result.case_id,
            result.passed,
            result.deterministic_passed(),
            any(r.deterministic for r in result.results),
            result.error,
            result.needs_judge,
        )


@dataclass(frozen=True, slots=True)
class SuiteRun:
    """One eval run as the gate sees it. ``total_cases`` is the suite's case count at
    ``suite_digest``, so a run missing case results is caught."""

    run_id: str
    suite: str
    suite_digest: str
    version_digest: str
    model_snapshot: str
    status: RunStatus
    total_cases: int
    cases: tuple[CaseOutcome, ...]


@dataclass(frozen=True, slots=True)
class SuiteVerdict:
    suite: str
    passed: bool
    reason: str
    run_id: str | None = None
    pass_rate: float | None = None
    failing_cases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GateDecision:
    """``allowed`` and, when not, one reason per failing suite (these form the 409 message)."""

    allowed: bool
    label: str
    reasons: tuple[str, ...]
    verdicts: tuple[SuiteVerdict, ...]


def model_snapshot_digest(model: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """The digest of the model a run used: ``{provider, name, version}`` and its parameters."""
    return sha256_digest({"model": dict(model), "params": dict(params)})


def parse_gate_policies(data: Any) -> dict[str, GatePolicy]:
    """Validate ``{labels: {LABEL: {suites: [{suite, min_pass_rate?, scope?}]}}}``."""
    v.mapping(data, "", ("labels",), ("labels",))
    labels = data["labels"]
    if not isinstance(labels, dict):
        raise v.invalid("labels", "is not a mapping", "write label: {suites: [...]}")
    out: dict[str, GatePolicy] = {}
    for label, body in labels.items():
        path = f"labels.{label}"
        if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
            raise v.invalid(path, "is not a label name", "use a label name such as prod")
        v.mapping(body, path, ("suites",), ("suites",))
        if not isinstance(body["suites"], list) or len(body["suites"]) > 50:
            raise v.invalid(
                f"{path}.suites",
                "is not a list of at most 50 suites",
                "list the suites this label requires",
            )
        reqs = []
        for i, raw in enumerate(body["suites"]):
            where = f"{path}.suites[{i}]"
            v.mapping(raw, where, ("suite", "min_pass_rate", "scope"), ("suite",))
            scope = raw.get("scope", "deterministic")
            if scope not in SCOPES:
                raise v.invalid(
                    f"{where}.scope", f"{scope!r} is not a scope", f"use one of {list(SCOPES)}"
                )
            reqs.append(
                SuiteRequirement(
                    v.text(raw["suite"], f"{where}.suite", max_chars=129),
                    v.number(raw.get("min_pass_rate", 1.0), f"{where}.min_pass_rate", 0.0, 1.0),
                    scope,
                )
            )
        if len({r.suite for r in reqs}) != len(reqs):
            raise v.invalid(
                f"{path}.suites", "names a suite twice", "keep one requirement per suite"
            )
        out[label] = GatePolicy(label, tuple(reqs))
    return out


def _cases(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_SHOWN_CASES])
    return shown + (
        f" and {len(names) - MAX_SHOWN_CASES} more" if len(names) > MAX_SHOWN_CASES else ""
    )


def _unbound_reason(req: SuiteRequirement, candidate: Candidate, runs: Sequence[SuiteRun]) -> str:
    mine = [r for r in runs if r.suite == req.suite]
    if not mine:
        return f"suite {req.suite}: no eval run for this version"
    digest = candidate.suite_digests[req.suite]
    why = []
    if all(r.version_digest != candidate.version_digest for r in mine):
        why.append("another version digest")
    if all(r.model_snapshot != candidate.model_snapshot for r in mine):
        why.append("another model snapshot")
    if all(r.suite_digest != digest for r in mine):
        why.append("another revision of the suite")
    detail = (
        " and ".join(why) or "another combination of version, model snapshot and suite revision"
    )
    return f"suite {req.suite}: its runs are for {detail}; run it on this version, model and suite"


def _verdict(req: SuiteRequirement, candidate: Candidate, runs: Sequence[SuiteRun]) -> SuiteVerdict:
    name = req.suite
    if name not in candidate.suite_digests:
        return SuiteVerdict(
            name, False, f"suite {name}: does not exist; push it or change the gate policy"
        )
    digest = candidate.suite_digests[name]
    bound = [
        r for r in runs
        if r.suite == name and r.suite_digest == digest
        and r.version_digest == candidate.version_digest and r.model_snapshot == candidate.model_snapshot
    ]  # fmt: skip
    finished = [r for r in bound if r.status not in (RunStatus.QUEUED, RunStatus.RUNNING)]
    if not finished:
        if bound:
            return SuiteVerdict(
                name,
                False,
                f"suite {name}: run {bound[-1].run_id} has not finished",
                bound[-1].run_id,
            )
        return SuiteVerdict(name, False, _unbound_reason(req, candidate, runs))
    run = finished[-1]  # runs are given oldest first: the newest finished run counts
    if run.status is not RunStatus.COMPLETED:
        return SuiteVerdict(
            name,
            False,
            f"suite {name}: run {run.run_id} is {run.status.value}; run it again",
            run.run_id,
        )
    ids = [c.case_id for c in run.cases]
    if len(set(ids)) != len(ids) or len(ids) != run.total_cases:
        return SuiteVerdict(
            name,
            False,
            f"suite {name}: run {run.run_id} has {len(set(ids))} of {run.total_cases} case results",
            run.run_id,
        )
    errors = [c.case_id for c in run.cases if c.error]
    if errors:
        return SuiteVerdict(
            name,
            False,
            f"suite {name}: grader error in {_cases(errors)}",
            run.run_id,
            failing_cases=tuple(errors),
        )
    judged = [c.case_id for c in run.cases if c.needs_judge]
    if judged:
        return SuiteVerdict(
            name,
            False,
            f"suite {name}: the judge has not answered for {_cases(judged)}",
            run.run_id,
            failing_cases=tuple(judged),
        )
    if req.scope == "deterministic":
        counted = [c for c in run.cases if c.has_deterministic]
        failing = [c.case_id for c in counted if not c.deterministic_passed]
    else:
        counted = list(run.cases)
        failing = [c.case_id for c in counted if not c.passed]
    if not counted:
        return SuiteVerdict(name, False, f"suite {name}: no {req.scope} case to count", run.run_id)
    rate = (len(counted) - len(failing)) / len(counted)
    needed = math.ceil(req.min_pass_rate * len(counted) - 1e-9)
    if len(counted) - len(failing) < needed:
        return SuiteVerdict(
            name, False,
            f"suite {name}: {rate:.1%} of {len(counted)} cases passed, {req.min_pass_rate:.0%} required; failing: {_cases(failing)}",
            run.run_id, rate, tuple(failing),
        )  # fmt: skip
    return SuiteVerdict(
        name,
        True,
        f"suite {name}: {rate:.1%} passed (run {run.run_id})",
        run.run_id,
        rate,
        tuple(failing),
    )


def decide(
    policies: Mapping[str, GatePolicy] | None,
    label: str,
    candidate: Candidate,
    runs: Sequence[SuiteRun],
) -> GateDecision:
    """Whether ``label`` may serve ``candidate``.

    Args:
        policies: the project's policy per label (``None``: ``DEFAULT_POLICIES``).
        label: the label about to point at the version.
        candidate: the version digest, model snapshot digest and current suite digests.
        runs: the project's runs of the required suites, oldest first.
    """
    table = DEFAULT_POLICIES if policies is None else policies
    policy = table.get(label)
    if policy is None or not policy.requirements:
        return GateDecision(True, label, (f"label {label} has no gate",), ())
    verdicts = tuple(_verdict(req, candidate, runs) for req in policy.requirements)
    blocked = tuple(x.reason for x in verdicts if not x.passed)
    return GateDecision(not blocked, label, blocked or tuple(x.reason for x in verdicts), verdicts)
