"""The gate decision: table-driven, every way a result may not count blocks (security.md
rows 2, 3; issue 13 "fail closed")."""

from __future__ import annotations

from dataclasses import replace

import pytest

from promptstage.errors import InvalidInputError
from promptstage.evals.gate_policy import (
    DEFAULT_POLICIES,
    Candidate,
    CaseOutcome,
    GatePolicy,
    RunStatus,
    SuiteRequirement,
    SuiteRun,
    decide,
    model_snapshot_digest,
    parse_gate_policies,
)
from promptstage.evals.results import AssertionResult, CaseResult

SEC = "builtin/security"
V3, V4 = "sha256:" + "3" * 64, "sha256:" + "4" * 64
MODEL = model_snapshot_digest(
    {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}, {"temperature": 0}
)
OTHER_MODEL = model_snapshot_digest(
    {"provider": "openai", "name": "gpt-4o", "version": "2024-11-20"}, {"temperature": 0}
)
SUITE_D, OLD_SUITE_D = "sha256:" + "a" * 64, "sha256:" + "b" * 64
CANDIDATE = Candidate(V3, MODEL, {SEC: SUITE_D, "team/qa": "sha256:" + "c" * 64})


def ok(case_id: str) -> CaseOutcome:
    return CaseOutcome(case_id, True, True, True, False, False)


def bad(case_id: str) -> CaseOutcome:
    return CaseOutcome(case_id, False, False, True, False, False)


def run(cases: tuple[CaseOutcome, ...] = (ok("a"), ok("b")), **changes: object) -> SuiteRun:
    base = SuiteRun("run-1", SEC, SUITE_D, V3, MODEL, RunStatus.COMPLETED, len(cases), cases)
    return replace(base, **changes)  # type: ignore[arg-type]


ERROR = CaseOutcome("b", False, False, True, True, False)
UNJUDGED = CaseOutcome("b", False, True, True, False, True)


@pytest.mark.parametrize(
    ("runs", "allowed", "reason"),
    [
        ([run()], True, "100.0% passed"),
        ([], False, "no eval run for this version"),
        ([run(version_digest=V4)], False, "another version digest"),
        ([run(model_snapshot=OTHER_MODEL)], False, "another model snapshot"),
        ([run(suite_digest=OLD_SUITE_D)], False, "another revision of the suite"),
        ([run(status=RunStatus.INTERRUPTED)], False, "is interrupted"),
        ([run(status=RunStatus.CANCELLED)], False, "is cancelled"),
        ([run(status=RunStatus.FAILED)], False, "is failed"),
        ([run(status=RunStatus.RUNNING)], False, "has not finished"),
        ([run(cases=(ok("a"), ERROR))], False, "grader error in b"),
        ([run(cases=(ok("a"), UNJUDGED))], False, "judge has not answered for b"),
        ([run(cases=(ok("a"), bad("b")))], False, "failing: b"),
        ([run(total_cases=3)], False, "2 of 3 case results"),
        ([run(cases=(ok("a"), ok("a")))], False, "1 of 2 case results"),
        ([run(cases=())], False, "no deterministic case"),
        ([run(cases=(ok("a"), bad("b")), run_id="old"), run(run_id="new")], True, "run new"),
        ([run(run_id="old"), run(cases=(ok("a"), bad("b")), run_id="new")], False, "failing: b"),
        (
            [run(run_id="old"), run(status=RunStatus.INTERRUPTED, run_id="new")],
            False,
            "new is interrupted",
        ),
        ([run(run_id="done"), run(status=RunStatus.RUNNING, run_id="again")], True, "run done"),
    ],
)
def test_prod_gate_on_the_security_suite(runs: list[SuiteRun], allowed: bool, reason: str) -> None:
    decision = decide(None, "prod", CANDIDATE, runs)
    assert decision.allowed is allowed
    assert any(reason in r for r in decision.reasons), decision.reasons


def test_a_label_without_a_gate_is_allowed_and_says_so() -> None:
    decision = decide(None, "staging", CANDIDATE, [])
    assert decision.allowed and decision.reasons == ("label staging has no gate",)


def test_a_required_suite_that_does_not_exist_blocks() -> None:
    decision = decide(None, "prod", Candidate(V3, MODEL, {}), [run()])
    assert not decision.allowed and "does not exist" in decision.reasons[0]


def test_min_pass_rate_and_scope() -> None:
    cases = (*tuple(ok(f"c{i}") for i in range(9)), bad("c9"))
    qa = [replace(run(cases), suite="team/qa", suite_digest=CANDIDATE.suite_digests["team/qa"])]
    policies = {"prod": GatePolicy("prod", (SuiteRequirement("team/qa", 0.9),))}
    assert decide(policies, "prod", CANDIDATE, qa).allowed
    strict = {"prod": GatePolicy("prod", (SuiteRequirement("team/qa", 0.95),))}
    decision = decide(strict, "prod", CANDIDATE, qa)
    assert (
        not decision.allowed
        and "90.0% of 10 cases passed, 95% required; failing: c9" in decision.reasons[0]
    )
    # a judged case that failed its judge counts only in scope "all"
    judged = (CaseOutcome("j", False, True, True, False, False), ok("k"))
    runs = [replace(run(judged), suite="team/qa", suite_digest=CANDIDATE.suite_digests["team/qa"])]
    det = {"prod": GatePolicy("prod", (SuiteRequirement("team/qa", 1.0, "deterministic"),))}
    every = {"prod": GatePolicy("prod", (SuiteRequirement("team/qa", 1.0, "all"),))}
    assert decide(det, "prod", CANDIDATE, runs).allowed
    assert not decide(every, "prod", CANDIDATE, runs).allowed


def test_every_failing_suite_is_named() -> None:
    policies = {"prod": GatePolicy("prod", (SuiteRequirement(SEC), SuiteRequirement("team/qa")))}
    decision = decide(policies, "prod", CANDIDATE, [])
    assert not decision.allowed
    assert [v.suite for v in decision.verdicts] == [SEC, "team/qa"] and len(decision.reasons) == 2


def test_default_policy_gates_prod_on_the_security_suite_at_100_percent() -> None:
    assert DEFAULT_POLICIES["prod"].requirements == (SuiteRequirement(SEC, 1.0, "deterministic"),)


def test_case_outcome_from_graded_results() -> None:
    graded = CaseResult(
        "x",
        (
            AssertionResult("regex", True, "ok"),
            AssertionResult("llm-judge", False, "wait", needs_judge=True, deterministic=False),
        ),
    )
    outcome = CaseOutcome.of(graded)
    assert outcome.deterministic_passed and outcome.needs_judge and not outcome.passed
    assert not decide(None, "prod", CANDIDATE, [run((ok("a"), outcome), total_cases=2)]).allowed


def test_model_snapshot_digest_covers_model_and_params() -> None:
    a = model_snapshot_digest({"provider": "p", "name": "n", "version": "1"}, {"temperature": 0})
    assert a == model_snapshot_digest(
        {"version": "1", "name": "n", "provider": "p"}, {"temperature": 0}
    )
    assert a != model_snapshot_digest(
        {"provider": "p", "name": "n", "version": "1"}, {"temperature": 1}
    )


def test_parse_gate_policies() -> None:
    parsed = parse_gate_policies(
        {
            "labels": {
                "prod": {
                    "suites": [
                        {"suite": SEC},
                        {"suite": "team/qa", "min_pass_rate": 0.9, "scope": "all"},
                    ]
                }
            }
        }
    )
    assert parsed["prod"].requirements[1] == SuiteRequirement("team/qa", 0.9, "all")
    for bad_policy, path in [
        (
            {"labels": {"prod": {"suites": [{"suite": SEC, "min_pass_rate": 2}]}}},
            "labels.prod.suites[0].min_pass_rate",
        ),
        (
            {"labels": {"prod": {"suites": [{"suite": SEC, "scope": "some"}]}}},
            "labels.prod.suites[0].scope",
        ),
        ({"labels": {"prod": {"suites": [{"suite": SEC}, {"suite": SEC}]}}}, "labels.prod.suites"),
        ({"labels": {"Prod!": {"suites": []}}}, "labels.Prod!"),
        ({"labels": {"prod": {"suits": []}}}, "labels.prod.suits"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            parse_gate_policies(bad_policy)
        assert info.value.field == path
