"""Rows of the eval tables as domain records."""

from __future__ import annotations

from typing import Any

from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus, EvalSuiteRecord


def suite_of(row: Any) -> EvalSuiteRecord:
    return EvalSuiteRecord(
        row.project, row.name, int(row.version), row.digest, row.body, row.author, row.created_at
    )


def run_of(row: Any) -> EvalRun:
    return EvalRun(
        id=row.id,
        project=row.project,
        suite=row.suite,
        suite_version=int(row.suite_version),
        suite_digest=row.suite_digest,
        prompt=row.prompt,
        version=int(row.version),
        version_digest=row.version_digest,
        model=dict(row.model),
        params=dict(row.params),
        model_snapshot=row.model_snapshot,
        status=EvalRunStatus(row.status),
        total=int(row.total),
        actor=row.actor,
        created_at=row.created_at,
        done=int(row.done),
        passed_cases=int(row.passed_cases),
        failed_cases=int(row.failed_cases),
        error_cases=int(row.error_cases),
        tokens_in=int(row.tokens_in),
        tokens_out=int(row.tokens_out),
        cost=row.cost,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        owner=row.owner,
        heartbeat_at=row.heartbeat_at,
        replay_id=row.replay_id,
        replay_role=row.replay_role,
        inline_suite=row.inline_suite,
    )


def case_of(row: Any) -> EvalCaseRecord:
    return EvalCaseRecord(
        run_id=row.run_id,
        case_id=row.case_id,
        index=int(row.idx),
        request=row.request,
        response=row.response,
        assertions=list(row.assertions),
        passed=bool(row.passed),
        error=row.error,
        needs_judge=bool(row.needs_judge),
        deterministic_passed=bool(row.deterministic_passed),
        has_deterministic=bool(row.has_deterministic),
        at=row.at,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        latency_ms=row.latency_ms,
        cost=row.cost,
    )
