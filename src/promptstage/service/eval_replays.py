"""Replay: production traffic as a regression test.

``start_replay`` takes the last ``sample`` logged calls of the label's current version (the
baseline) that carry their variables, turns them into the cases of an inline suite graded by a
suite's default assertions (``builtin/security``'s when none is named), and queues two linked
runs of it: the baseline and the candidate version, both calling the candidate's model (the same
model settings on both sides). ``replay_report`` shows them side by side: pass rates, each
case's change, and the cost and latency difference.
"""

from __future__ import annotations

import secrets
import statistics
from typing import Any

from promptstage.domain.calls import CallFilter, CallRecord
from promptstage.domain.eval_wire import run_json
from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus
from promptstage.domain.events import AuditAction
from promptstage.domain.names import LABEL_NAME, PROMPT_NAME
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.evals.gate_policy import SECURITY_SUITE, model_snapshot_digest
from promptstage.evals.suite import Suite, suite_from_dict
from promptstage.store.base import UnitOfWork

from .context import Context, change
from .eval_runs import new_run_id
from .eval_suites import load_suite
from .prompts import require_project, require_prompt, require_version

MAX_SAMPLE = 200
SCAN_LIMIT = 5000  # logged calls looked at, at most, to find ``sample`` with variables
REPLAY_SUITE = "replay"


def _sampled_calls(
    uow: UnitOfWork, project: str, prompt: str, digest: str, n: int
) -> list[CallRecord]:
    found: list[CallRecord] = []
    before = None
    scanned = 0
    version_filter = CallFilter(prompt=prompt)
    while len(found) < n and scanned < SCAN_LIMIT:
        page = uow.list_calls(project, version_filter, limit=500, before=before)
        if not page:
            break
        scanned += len(page)
        found.extend(c for c in page if c.digest == digest and c.variables is not None)
        before = (page[-1].at, page[-1].id)
    return found[:n]


def _inline_suite(grader: Suite, calls: list[CallRecord], title: str) -> Suite:
    if not grader.default_assertions:
        raise InvalidInputError(
            f"suite {grader.name!r} has no defaults.assertions: a replay grades every call with "
            "the suite's default assertions; add them or name another suite",
            field="suite",
        )
    return suite_from_dict(
        {
            "name": REPLAY_SUITE,
            "description": title,
            "defaults": {"assertions": [a.to_dict() for a in grader.default_assertions]},
            "judge": grader.judge,
            "cases": [
                {
                    "id": f"call-{i + 1}",
                    "description": f"logged call {c.id}",
                    "vars": c.variables,
                    "expected": {"call_id": c.id},
                }
                for i, c in enumerate(calls)
            ],
        }
    )


def start_replay(
    ctx: Context,
    actor: str,
    project: str,
    *,
    prompt: Any,
    candidate_version: Any,
    sample: Any,
    suite: Any = None,
    label: Any = "prod",
) -> str:
    """Queue the baseline and candidate runs of a replay; its id.

    Raises:
        InvalidInputError: a malformed field. NotFoundError: no such prompt, version, label or
            suite. ConflictError: no logged call of the baseline carries its variables.
    """
    if not isinstance(prompt, str) or not PROMPT_NAME.fullmatch(prompt):
        raise InvalidInputError("prompt must be a prompt name", field="prompt")
    if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
        raise InvalidInputError("label must be a label name", field="label")
    if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
        raise InvalidInputError(f"sample must be between 1 and {MAX_SAMPLE}", field="sample")
    if suite is not None and not isinstance(suite, str):
        raise InvalidInputError("suite must be a suite name", field="suite")
    if isinstance(candidate_version, bool) or not isinstance(candidate_version, int):
        raise InvalidInputError(
            "candidate_version must be a version number", field="candidate_version"
        )
    replay_id = f"replay_{secrets.token_hex(8)}"
    with change(ctx, project, actor) as ch:
        uow = ch.uow
        require_prompt(uow, project, prompt)
        baseline_number = uow.get_labels(project, prompt).get(label)
        if baseline_number is None:
            raise NotFoundError(
                f"prompt {prompt!r} has no label {label!r}: a replay compares with the version a "
                "label serves",
                field="label",
            )
        baseline = require_version(uow, project, prompt, baseline_number)
        candidate = require_version(
            uow, project, prompt, candidate_version, field="candidate_version"
        )
        grader = load_suite(uow, project, suite or SECURITY_SUITE).suite
        calls = _sampled_calls(uow, project, prompt, baseline.digest, sample)
        if not calls:
            raise ConflictError(
                f"no logged call of {prompt!r} version {baseline.number} (label {label!r}) "
                "carries its variables; log calls with their variables to replay them",
                field="prompt",
            )
        inline = _inline_suite(
            grader,
            calls,
            f"replay of {len(calls)} logged calls of {prompt} at {label} "
            f"(v{baseline.number}) against v{candidate.number}",
        )
        model = dict(candidate.config["model"])
        for role, version in (("baseline", baseline), ("candidate", candidate)):
            params = dict(version.config.get("params") or {})
            uow.add_eval_run(
                EvalRun(
                    id=new_run_id(),
                    project=project,
                    suite=REPLAY_SUITE,
                    suite_version=0,
                    suite_digest=inline.digest,
                    prompt=prompt,
                    version=version.number,
                    version_digest=version.digest,
                    model=model,
                    params=params,
                    model_snapshot=model_snapshot_digest(model, params),
                    status=EvalRunStatus.QUEUED,
                    total=len(inline.cases),
                    actor=actor,
                    created_at=ch.at,
                    replay_id=replay_id,
                    replay_role=role,
                    inline_suite=inline.to_dict(),
                )
            )
        ch.record(
            AuditAction.EVAL_REPLAY_START,
            f"eval_replay:{replay_id}",
            before=None,
            after={
                "prompt": prompt,
                "label": label,
                "baseline": baseline.number,
                "candidate": candidate.number,
                "calls": len(calls),
                "grader": grader.name,
            },
        )
    return replay_id


def _status(case: EvalCaseRecord | None) -> str | None:
    if case is None:
        return None
    return "error" if case.error else "passed" if case.passed else "failed"


def _change(before: str | None, after: str | None) -> str:
    if before is None or after is None:
        return "pending"
    if before == after:
        return "same"
    if after == "passed":
        return "fixed"
    return "broke" if before == "passed" else "changed"


def _mean_latency(cases: list[EvalCaseRecord]) -> float | None:
    values = [c.latency_ms for c in cases if c.latency_ms is not None and not c.error]
    return round(statistics.fmean(values), 3) if values else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 9)


def replay_report(ctx: Context, project: str, replay_id: str) -> dict[str, Any]:
    """Both runs of a replay and their comparison (see the module docstring)."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        runs = {r.replay_role: r for r in uow.eval_runs_of_replay(project, replay_id)}
        if set(runs) != {"baseline", "candidate"}:
            raise NotFoundError(
                f"no replay {replay_id!r} in project {project!r}", field="replay_id"
            )
        cases = {
            role: uow.list_eval_cases(run.id, limit=run.total + 1) for role, run in runs.items()
        }
    base, cand = runs["baseline"], runs["candidate"]
    suite_cases = (base.inline_suite or {}).get("cases", [])
    by_role = {role: {c.case_id: c for c in found} for role, found in cases.items()}
    rows = []
    for case in suite_cases:
        b = _status(by_role["baseline"].get(case["id"]))
        c = _status(by_role["candidate"].get(case["id"]))
        rows.append(
            {
                "case_id": case["id"],
                "call_id": case["expected"].get("call_id"),
                "baseline": b,
                "candidate": c,
                "change": _change(b, c),
            }
        )
    base_json, cand_json = run_json(base), run_json(cand)
    latency = (_mean_latency(cases["baseline"]), _mean_latency(cases["candidate"]))
    return {
        "id": replay_id,
        "prompt": base.prompt,
        "description": (base.inline_suite or {}).get("description", ""),
        "status": "running" if base.status.open or cand.status.open else "done",
        "baseline": base_json,
        "candidate": cand_json,
        "comparison": {
            "pass_rate": {
                "baseline": base_json["results"]["pass_rate"],
                "candidate": cand_json["results"]["pass_rate"],
            },
            "cost_usd": {
                "baseline": base.cost,
                "candidate": cand.cost,
                "difference": _diff(base.cost, cand.cost),
            },
            "mean_latency_ms": {
                "baseline": latency[0],
                "candidate": latency[1],
                "difference": _diff(*latency),
            },
            "changes": {
                kind: sum(1 for r in rows if r["change"] == kind)
                for kind in ("fixed", "broke", "changed", "same", "pending")
            },
            "cases": rows,
        },
    }
