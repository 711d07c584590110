"""The JSON forms of eval runs and their cases (the API, the CLI and the UI show these)."""

from __future__ import annotations

from typing import Any

from .evals import EvalCaseRecord, EvalRun
from .models import iso_utc


def _at(value: Any) -> str | None:
    return None if value is None else iso_utc(value)


def run_json(run: EvalRun) -> dict[str, Any]:
    """A run: what it is bound to, where it is, and what it cost."""
    return {
        "id": run.id,
        "project": run.project,
        "suite": {"name": run.suite, "version": run.suite_version, "digest": run.suite_digest},
        "prompt": run.prompt,
        "version": run.version,
        "version_digest": run.version_digest,
        "model": run.model,
        "model_snapshot": run.model_snapshot,
        "status": run.status.value,
        "progress": {"done": run.done, "total": run.total},
        "results": {
            "passed": run.passed_cases,
            "failed": run.failed_cases,
            "error": run.error_cases,
            "pass_rate": (run.passed_cases / run.done) if run.done else None,
        },
        "tokens": {"input": run.tokens_in, "output": run.tokens_out},
        "cost_usd": run.cost,
        "error": run.error,
        "actor": run.actor,
        "created_at": iso_utc(run.created_at),
        "started_at": _at(run.started_at),
        "finished_at": _at(run.finished_at),
        "replay": None if run.replay_id is None else {"id": run.replay_id, "role": run.replay_role},
    }


def case_json(case: EvalCaseRecord) -> dict[str, Any]:
    """One graded case: the request sent, the response, every assertion result."""
    return {
        "case_id": case.case_id,
        "index": case.index,
        "status": "error" if case.error else "passed" if case.passed else "failed",
        "passed": case.passed,
        "error": case.error,
        "request": case.request,
        "response": case.response,
        "assertions": case.assertions,
        "tokens": {"input": case.tokens_in, "output": case.tokens_out},
        "latency_ms": case.latency_ms,
        "cost_usd": case.cost,
        "at": iso_utc(case.at),
    }
