"""The evaluation gate at the promotion door (issue 13; security.md rows 2-5, 8, 9): runs graded
for real against scripted models, read through an in-memory ``RunSource``."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from promptstage.cli.fake_behaviours import Behaviour
from promptstage.domain.events import AuditAction
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Version
from promptstage.errors import GateRefusedError
from promptstage.evals.builtin import builtin_suite
from promptstage.evals.gate_policy import SECURITY_SUITE, RunStatus, SuiteRun
from promptstage.service import change_requests, eval_gate, evidence, labels, releases
from promptstage.service.context import Context
from promptstage.service.eval_gate import EvalGate
from promptstage.service.gate_status import gate_status
from promptstage.service.prompts import get_version
from support import releases as helpers
from support.eval_gate import BrokenRuns, MemoryRuns, graded_run, snapshot_of
from support.releases import PROJECT, PROMPT, USER

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

APPROVER = "key:approver"
DAY = timedelta(days=1)


@pytest.fixture
def runs(seeded: Context) -> MemoryRuns:
    """The gate on, reading this in-memory source."""
    source = MemoryRuns()
    seeded.gate = EvalGate(source)
    return source


def version(ctx: Context, number: int) -> Version:
    return get_version(ctx, PROJECT, PROMPT, number)


def passing(ctx: Context, runs: MemoryRuns, number: int, run_id: str = "run-ok") -> SuiteRun:
    return runs.add(PROJECT, graded_run(version(ctx, number), Behaviour.REFUSE, run_id=run_id))


def prod(ctx: Context) -> int | None:
    with ctx.store.unit_of_work() as uow:
        return uow.get_labels(PROJECT, PROMPT).get("prod")


def audit(ctx: Context) -> list[Any]:
    with ctx.store.unit_of_work() as uow:
        return list(uow.iter_audit(PROJECT))


def refused(ctx: Context, number: int = 3) -> GateRefusedError:
    before = len(audit(ctx))
    with pytest.raises(GateRefusedError) as caught:
        labels.move_label(ctx, USER, PROJECT, PROMPT, "prod", number)
    assert prod(ctx) == 1 and len(audit(ctx)) == before  # nothing written
    return caught.value


# -- rows 4, 5, 8, 9: what a model does decides ----------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "families", "cases"),
    [
        (  # row 4 (injection), 10 (link/image exfiltration), 11 (smuggling)
            Behaviour.OBEY,
            {"jailbreak", "indirect-injection"},
            {"indirect-link-exfil", "indirect-image-exfil", "jailbreak-smuggling-01"},
        ),
        (Behaviour.LEAK_CANARY, {"system-prompt-extraction"}, set()),  # row 5
        (Behaviour.LEAK_RECORD, {"pii-exfiltration"}, set()),  # row 8
        (Behaviour.UNLISTED_TOOL, {"tool-misuse"}, set()),  # row 9
    ],
)
def test_a_misbehaving_models_run_blocks_prod(
    seeded: Context, runs: MemoryRuns, behaviour: Behaviour, families: set[str], cases: set[str]
) -> None:
    run = runs.add(PROJECT, graded_run(version(seeded, 3), behaviour, run_id="run-bad"))
    error = refused(seeded)
    assert error.code == "gate_refused" and error.status_code == 409
    (verdict,) = error.details["verdicts"]
    assert verdict["suite"] == SECURITY_SUITE and verdict["run_id"] == run.run_id
    assert not verdict["passed"] and verdict["failing_cases"][0] in error.message
    family_of = {c.id: c.family for c in builtin_suite(SECURITY_SUITE).cases}
    failing = set(verdict["failing_cases"])
    assert families <= {family_of[c] for c in failing} and cases <= failing


def test_a_refusing_models_run_lets_prod_serve_it(seeded: Context, runs: MemoryRuns) -> None:
    passing(seeded, runs, 3)
    move = labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
    assert move is not None and prod(seeded) == 3


def test_a_missing_run_blocks_naming_the_suite(seeded: Context, runs: MemoryRuns) -> None:
    error = refused(seeded)
    assert "suite builtin/security: no eval run for this version" in error.message
    assert error.details["label"] == "prod" and error.details["version"] == 3


def test_ungated_labels_need_no_run(seeded: Context, runs: MemoryRuns) -> None:
    labels.move_label(seeded, USER, PROJECT, PROMPT, "staging", 3)
    assert runs.asked == 0  # the default gate gates prod only


# -- row 3: fail closed ---------------------------------------------------------------------


def test_a_grader_error_blocks(seeded: Context, runs: MemoryRuns) -> None:
    run = passing(seeded, runs, 3)
    first = run.cases[0]
    broken = dataclasses.replace(first, passed=False, error=True)
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, cases=(broken, *run.cases[1:]))]
    assert f"grader error in {first.case_id}" in refused(seeded).message


def test_a_judge_that_did_not_answer_blocks(seeded: Context, runs: MemoryRuns) -> None:
    run = passing(seeded, runs, 3)
    unjudged = dataclasses.replace(run.cases[0], needs_judge=True)
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, cases=(unjudged, *run.cases[1:]))]
    assert "the judge has not answered" in refused(seeded).message


@pytest.mark.parametrize(
    "status", [RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING]
)
def test_an_interrupted_or_unfinished_run_blocks(
    seeded: Context, runs: MemoryRuns, status: RunStatus
) -> None:
    run = passing(seeded, runs, 3)
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, status=status)]
    assert run.run_id in refused(seeded).message


def test_a_run_missing_case_results_blocks(seeded: Context, runs: MemoryRuns) -> None:
    run = passing(seeded, runs, 3)
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, cases=run.cases[:-1])]
    assert "case results" in refused(seeded).message


def test_a_bug_in_the_gate_blocks_never_passes(seeded: Context) -> None:
    seeded.gate = EvalGate(BrokenRuns())
    error = refused(seeded)
    assert "the evaluation gate failed (RuntimeError)" in error.message
    assert "the run store is down" not in error.message  # no internals in the answer


def test_an_exception_inside_decide_blocks(
    seeded: Context, runs: MemoryRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    passing(seeded, runs, 3)

    def broken(*args: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(eval_gate, "decide", broken)
    assert "the evaluation gate failed (ZeroDivisionError)" in refused(seeded).message


def test_a_bug_in_the_gate_blocks_release_starts_too(seeded: Context) -> None:
    seeded.gate = EvalGate(BrokenRuns())
    with pytest.raises(GateRefusedError):
        releases.start_release(
            seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=3,
            strategy="canary",
        )  # fmt: skip
    assert releases.list_releases(seeded, PROJECT)[0] == []


# -- row 2: results are bound to (version digest, model snapshot, suite digest) ----------------


def test_a_version_evaluated_as_v3_cannot_be_promoted_as_v4(
    seeded: Context, runs: MemoryRuns
) -> None:
    passing(seeded, runs, 3)  # v3 passed; v2 has the same model, another content
    error = refused(seeded, 2)
    assert "no eval run for this version" in error.message
    assert labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3) is not None


def test_a_result_for_another_model_snapshot_does_not_count(
    seeded: Context, runs: MemoryRuns
) -> None:
    run = graded_run(version(seeded, 3), Behaviour.REFUSE)
    other = snapshot_of(version(seeded, 3), temperature=1.5)  # the run overrode a parameter
    runs.add(PROJECT, dataclasses.replace(run, model_snapshot=other))
    assert "another model snapshot" in refused(seeded).message


def test_a_suite_changed_since_the_run_does_not_count(seeded: Context, runs: MemoryRuns) -> None:
    passing(seeded, runs, 3)
    runs.digests[SECURITY_SUITE] = "sha256:" + "e" * 64  # the suite's current revision
    assert "another revision of the suite" in refused(seeded).message


def test_the_newest_finished_run_counts(seeded: Context, runs: MemoryRuns) -> None:
    passing(seeded, runs, 3, "run-old")
    runs.add(PROJECT, graded_run(version(seeded, 3), Behaviour.OBEY, run_id="run-new"))
    assert "run-new" in str(refused(seeded).details["verdicts"])


# -- every path promote() covers; rollback never ----------------------------------------------


def test_an_approved_move_is_gated(seeded: Context, runs: MemoryRuns) -> None:
    opened = change_requests.open_label_move(
        seeded, USER, PROJECT, PROMPT, "prod", 3, expected_version=1, reason=None, ttl=DAY
    )
    with pytest.raises(GateRefusedError):
        change_requests.approve(seeded, APPROVER, PROJECT, opened.id)
    assert prod(seeded) == 1
    assert (
        change_requests.list_requests(seeded, PROJECT, state="open", limit=10, cursor=None)[0][0].id
        == opened.id
    )


def test_an_approved_release_start_is_gated(seeded: Context, runs: MemoryRuns) -> None:
    fields = {"prompt": PROMPT, "label": "prod", "candidate_version": 3, "strategy": "canary"}
    opened = change_requests.open_release_start(seeded, USER, PROJECT, fields, ttl=DAY)
    with pytest.raises(GateRefusedError):
        change_requests.approve(seeded, APPROVER, PROJECT, opened.id)
    assert releases.list_releases(seeded, PROJECT)[0] == []


def test_a_release_promotion_is_gated_again(seeded: Context, runs: MemoryRuns) -> None:
    run = passing(seeded, runs, 3)
    r = releases.start_release(
        seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=3, strategy="canary"
    )
    # The evidence went stale meanwhile: the run is now counted as interrupted.
    runs.runs_by_project[PROJECT] = [dataclasses.replace(run, status=RunStatus.INTERRUPTED)]
    with pytest.raises(GateRefusedError):
        releases.act(seeded, USER, PROJECT, r.id, "promote")
    assert releases.get_release(seeded, PROJECT, r.id)[0].state == "running"
    assert prod(seeded) == 1


def test_rollback_is_never_gated(seeded: Context, runs: MemoryRuns) -> None:
    passing(seeded, runs, 3)
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
    seeded.gate = EvalGate(BrokenRuns())  # a gate that refuses everything
    move = labels.rollback_label(seeded, USER, PROJECT, PROMPT, "prod")
    assert move is not None and move.version == 1 and prod(seeded) == 1


# -- override, evidence, status ----------------------------------------------------------------


def test_an_override_promotes_and_is_audited_with_the_verdicts(
    seeded: Context, runs: MemoryRuns
) -> None:
    runs.add(PROJECT, graded_run(version(seeded, 3), Behaviour.OBEY, run_id="run-bad"))
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3, override="incident 42 hotfix")
    assert prod(seeded) == 3
    rows = audit(seeded)
    override = next(r for r in rows if r.action == AuditAction.GATE_OVERRIDE)
    assert override.target == f"prompt:{PROMPT}@3" and override.reason == "incident 42 hotfix"
    assert override.after["verdicts"][0]["run_id"] == "run-bad"
    assert not override.after["verdicts"][0]["passed"]
    move = rows[-1]
    assert move.action == AuditAction.LABEL_MOVE and move.after["gate"]["overridden"] is True
    status = gate_status(seeded, PROJECT, PROMPT, 3)
    assert status is not None and status["prod"]["allowed"] is False
    assert status["prod"]["overrides"][0]["reason"] == "incident 42 hotfix"


def test_a_release_started_under_override_completes_on_it(
    seeded: Context, runs: MemoryRuns
) -> None:
    r = releases.start_release(
        seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=3,
        strategy="canary", override="canary of a hotfix",
    )  # fmt: skip
    releases.act(seeded, USER, PROJECT, r.id, "promote")
    assert prod(seeded) == 3
    assert [r.action for r in audit(seeded)].count(AuditAction.GATE_OVERRIDE) == 1


def test_an_override_is_not_recorded_when_the_gate_passes(
    seeded: Context, runs: MemoryRuns
) -> None:
    passing(seeded, runs, 3)
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3, override="just in case")
    assert AuditAction.GATE_OVERRIDE not in [r.action for r in audit(seeded)]


def test_the_evidence_export_carries_the_runs_that_gated_a_promotion(
    seeded: Context, runs: MemoryRuns
) -> None:
    run = passing(seeded, runs, 3)
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
    records = evidence.export_evidence(seeded, PROJECT).records
    gated = [r["eval_runs"] for r in records if r["eval_runs"] is not None]
    assert gated == [
        {
            "label": "prod",
            "allowed": True,
            "overridden": False,
            "version_digest": version(seeded, 3).digest,
            "model_snapshot": run.model_snapshot,
            "runs": [
                {
                    "run_id": run.run_id,
                    "suite": SECURITY_SUITE,
                    "suite_digest": run.suite_digest,
                    "status": "completed",
                    "pass_rate": 1.0,
                }
            ],
        }
    ]


def test_the_version_shows_its_gate_status_per_gated_label(
    seeded: Context, runs: MemoryRuns
) -> None:
    passing(seeded, runs, 3)
    assert gate_status(seeded, PROJECT, PROMPT, 3) == {
        "prod": {
            "allowed": True,
            "reasons": ["suite builtin/security: 100.0% passed (run run-ok)"],
            "verdicts": [
                {
                    "suite": SECURITY_SUITE,
                    "passed": True,
                    "reason": "suite builtin/security: 100.0% passed (run run-ok)",
                    "run_id": "run-ok",
                    "pass_rate": 1.0,
                    "failing_cases": [],
                }
            ],
            "overrides": [],
        }
    }
    status = gate_status(seeded, PROJECT, PROMPT, 2)
    assert status is not None and status["prod"]["allowed"] is False


def test_a_project_policy_gates_other_labels(seeded: Context, runs: MemoryRuns) -> None:
    policy = {"labels": {"staging": {"suites": [{"suite": SECURITY_SUITE}]}}}
    with seeded.store.unit_of_work(write=True) as uow:
        uow.set_project_settings(PROJECT, ProjectSettings(("prod",), True, None, policy))
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)  # prod is no longer gated
    with pytest.raises(GateRefusedError):
        labels.move_label(seeded, USER, PROJECT, PROMPT, "staging", 3)
