"""Stored eval suites, runs and case results: plain records the store returns.

A suite version is immutable and digested (``digest`` covers ``body``, the normalized suite).
A run is bound to the triple (version digest, model snapshot digest, suite digest); its case
results hold what was sent, what came back and what every assertion found. No provider
credential is ever part of these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class EvalRunStatus(StrEnum):
    """Where a run is: ``queued`` and ``running`` are open; the others are final until a
    ``resume`` re-queues an ``interrupted`` run."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    ERROR = "error"

    @property
    def open(self) -> bool:
        return self in (EvalRunStatus.QUEUED, EvalRunStatus.RUNNING)


@dataclass(frozen=True, slots=True)
class EvalSuiteRecord:
    """One immutable version of a project's suite."""

    project: str
    name: str
    version: int
    digest: str
    body: dict[str, Any]
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvalRun:
    """One run of a suite (or of a replay's sampled calls) on one prompt version.

    ``model`` is ``{provider, name, version}``; ``model_snapshot`` is
    ``evals.gate_policy.model_snapshot_digest(model, params)``. ``inline_suite`` holds the
    suite body of a replay run (built from logged calls), ``None`` for a stored suite.
    ``owner`` and ``heartbeat_at`` belong to the runner that claimed it.
    """

    id: str
    project: str
    suite: str
    suite_version: int
    suite_digest: str
    prompt: str
    version: int
    version_digest: str
    model: dict[str, str]
    params: dict[str, Any]
    model_snapshot: str
    status: EvalRunStatus
    total: int
    actor: str
    created_at: datetime
    done: int = 0
    passed_cases: int = 0
    failed_cases: int = 0
    error_cases: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    owner: str | None = None
    heartbeat_at: datetime | None = None
    replay_id: str | None = None
    replay_role: str | None = None
    inline_suite: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EvalCaseRecord:
    """One graded case of a run.

    ``request`` is what was sent (``{system, messages, model, tools}``), ``response`` what came
    back (``{text, tool_calls, finish_reason}``, ``None`` when the call failed) and
    ``assertions`` every assertion result as JSON. ``error`` is the provider's or the grader's
    failure; a case with an error never passes.
    """

    run_id: str
    case_id: str
    index: int
    request: dict[str, Any]
    response: dict[str, Any] | None
    assertions: list[dict[str, Any]]
    passed: bool
    error: str | None
    needs_judge: bool
    deterministic_passed: bool
    has_deterministic: bool
    at: datetime
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    cost: float | None = None
