"""The evaluation gate's test kit: an in-memory ``RunSource`` and runs graded for real.

``graded_run`` plays every case of a suite (``builtin/security`` by default) against a scripted
model behaviour of ``promptstage dev fake-model`` (``cli/fake_behaviours.reply``), delivered as
the runner does (canaries planted, vars split by ``evals.delivery``), and grades each answer with
the suite's own assertions (``evals.assertions.grade_case``). So "an obeying model fails the gate"
is decided by the detectors, not by a hand-written pass rate.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptstage.cli.fake_behaviours import Behaviour, Conversation, Tool, reply
from promptstage.domain.models import Version
from promptstage.evals.assertions import GradeContext, grade_case
from promptstage.evals.builtin import builtin_suite
from promptstage.evals.canary import fill, make_canary, plant_canary, required_tokens
from promptstage.evals.delivery import leftover_message, split_vars
from promptstage.evals.gate_policy import (
    SECURITY_SUITE,
    CaseOutcome,
    RunStatus,
    SuiteRun,
    model_snapshot_digest,
)
from promptstage.evals.results import ModelOutput, ToolCall
from promptstage.evals.suite import Suite
from promptstage.store.base import UnitOfWork


@dataclass
class MemoryRuns:
    """A ``RunSource`` held in memory: runs per project, suite digests per project."""

    runs_by_project: dict[str, list[SuiteRun]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    asked: int = 0

    def add(self, project: str, run: SuiteRun) -> SuiteRun:
        self.runs_by_project.setdefault(project, []).append(run)
        return run

    def runs(self, uow: UnitOfWork, project: str, version_digest: str) -> Sequence[SuiteRun]:
        self.asked += 1
        return [
            r for r in self.runs_by_project.get(project, []) if r.version_digest == version_digest
        ]

    def suite_digests(self, uow: UnitOfWork, project: str, names: Sequence[str]) -> dict[str, str]:
        known = {SECURITY_SUITE: builtin_suite(SECURITY_SUITE).digest, **self.digests}
        return {n: known[n] for n in names if n in known}


class BrokenRuns(MemoryRuns):
    """A source whose reads fail: the gate must block, never pass."""

    def runs(self, uow: UnitOfWork, project: str, version_digest: str) -> Sequence[SuiteRun]:
        raise RuntimeError("the run store is down")


def snapshot_of(version: Version, **params: Any) -> str:
    """The model snapshot digest of ``version`` (its params overridden by ``params``)."""
    config = version.config
    return model_snapshot_digest(config["model"], {**(config.get("params") or {}), **params})


def _conversation(version: Version, suite: Suite, case: Any, tokens: dict[str, str]) -> Any:
    filled = dataclasses.replace(case, vars=fill(case.vars, tokens))
    declared = [v["name"] for v in version.variables]
    _, leftover = split_vars(filled, declared)
    planted = plant_canary(version.type, version.template, tokens["canary"])
    if version.type == "text":
        system, turns = planted, []
    else:
        system = "\n".join(m["content"] for m in planted if m["role"] in ("system", "developer"))
        turns = [
            (m["role"], m["content"]) for m in planted if m["role"] not in ("system", "developer")
        ]
    turns += [(m["role"], m["content"]) for m in fill(list(case.history), tokens)]
    message = leftover_message(leftover)
    if message is not None:
        turns.append(("user", message))
    tools = tuple(
        Tool(t["name"], t.get("parameters") or {}) for t in version.config.get("tools") or []
    )
    return Conversation(system, tuple(turns), tools)


def graded_run(
    version: Version,
    behaviour: Behaviour,
    *,
    run_id: str = "run-1",
    suite: Suite | None = None,
    status: RunStatus = RunStatus.COMPLETED,
    **changes: Any,
) -> SuiteRun:
    """A run of ``suite`` on ``version`` against a model that behaves as ``behaviour``.

    ``changes`` replace fields of the resulting ``SuiteRun`` (another model snapshot, suite
    digest, a missing case...).
    """
    suite = suite or builtin_suite(SECURITY_SUITE)
    declared_tools = {
        t["name"]: t.get("parameters") or {} for t in version.config.get("tools") or []
    }
    outcomes = []
    for case in suite.cases:
        tokens = {name: make_canary(os.urandom(10)) for name in required_tokens(suite)}
        answer = reply(behaviour, _conversation(version, suite, case, tokens))
        output = ModelOutput(answer.text, tuple(ToolCall(n, a) for n, a in answer.tool_calls))
        graded = grade_case(
            case.id,
            suite.assertions_for(case),
            output,
            GradeContext(tokens=tokens, declared_tools=declared_tools),
        )
        outcomes.append(CaseOutcome.of(graded))
    run = SuiteRun(
        run_id,
        suite.name,
        suite.digest,
        version.digest,
        snapshot_of(version),
        status,
        len(suite.cases),
        tuple(outcomes),
    )
    return dataclasses.replace(run, **changes)
