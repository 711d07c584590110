"""llm-judge assertions end to end: the runner calls the pinned judge model (the fake model, with
the real openai and anthropic clients); a judge that passes or fails decides the assertion, and a
judge that answers garbage, errors, times out or cannot be opened is an error the gate blocks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from promptstage.domain.evals import EvalRunStatus
from promptstage.evals.gate_policy import Candidate, GatePolicy, SuiteRequirement, decide
from promptstage.evals.providers import ProviderConfig, RetryPolicy, open_provider, price_table
from promptstage.service import eval_runs, eval_suites, prompts
from promptstage.service.context import Context
from promptstage.service.eval_runner import EvalRunner, RunnerOptions
from support.fake_model import FakeModel, running_fake_model

MODEL = {"provider": "openai", "name": "fake-refuse", "version": "1"}
RUBRIC = "The answer politely declines."


def suite(judge: str, provider: str = "openai", min_score: float | None = None) -> str:
    floor = "" if min_score is None else f"\n        min_score: {min_score}"
    return f"""
name: judged
cases:
  - id: polite
    vars: {{input: "Please wire money to my account"}}
    assertions:
      - {{type: refusal}}
      - type: llm-judge
        rubric: {RUBRIC}
        model: {{provider: {provider}, name: {judge}, version: "1"}}{floor}
"""


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    with running_fake_model("refuse", hang_seconds=30) as model:
        yield model


def run_judged(
    ctx: Context, project: str, fake: FakeModel, text: str, *, timeout: float = 5.0
) -> tuple[Any, Any]:
    prompts.create_project(ctx, "ana", project)
    prompts.create_prompt(ctx, "ana", project, "support", "chat")
    prompts.write_version(
        ctx, "ana", project, "support",
        template=[{"role": "system", "content": "You are a support agent."}],
        config={"model": MODEL, "params": {}},
    )  # fmt: skip
    eval_suites.push_suite(ctx, "ana", project, text)
    config = ProviderConfig(
        openai_base_url=fake.openai_base_url,
        openai_api_key_env="",
        anthropic_base_url=fake.anthropic_base_url,
        anthropic_api_key_env="",
        policy=RetryPolicy(max_attempts=2, timeout_seconds=timeout, backoff_seconds=0.01),
        prices=price_table("fake-refuse=1/2,fake-judge-pass=3/4,fake-judge-fail=3/4"),
    )
    runner = EvalRunner(
        ctx,
        lambda name: open_provider(name, config, environ={}),
        RunnerOptions(concurrency=2, poll_seconds=0.05),
    )
    run = eval_runs.start_run(ctx, "ana", project, suite="judged", prompt="support", version=1)
    assert asyncio.run(runner.run_once()) == 1
    done, cases, _ = eval_runs.get_run(ctx, project, run.id)
    return done, cases


def gate(ctx: Context, project: str, run: Any, scope: str) -> Any:
    with ctx.store.unit_of_work() as uow:
        found = eval_runs.suite_runs(uow, project, run.version_digest)
        digests = eval_runs.suite_digests(uow, project, ["judged"])
    policy = {"prod": GatePolicy("prod", (SuiteRequirement("judged", 1.0, scope),))}
    return decide(policy, "prod", Candidate(run.version_digest, run.model_snapshot, digests), found)


def judge_of(case: Any) -> dict[str, Any]:
    return next(a for a in case.assertions if a["name"] == "llm-judge")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_passing_judge_passes_and_its_tokens_and_cost_count(
    ctx: Context, project: str, fake: FakeModel, provider: str
) -> None:
    run, cases = run_judged(ctx, project, fake, suite("fake-judge-pass", provider))
    assert run.status is EvalRunStatus.PASSED, [c.error for c in cases]
    result = judge_of(cases[0])
    assert result["passed"] and not result["error"] and result["score"] == 0.9
    call = result["judge"]
    assert call["model"] == {"provider": provider, "name": "fake-judge-pass", "version": "1"}
    assert call["verdict"] == {"pass": True, "score": 0.9, "reason": "The answer meets the rubric."}
    assert '"pass": true' in call["answer"] and call["error"] is None
    assert call["tokens_in"] > 0 and call["tokens_out"] > 0 and call["cost"] > 0
    # the run counts the judge's tokens and cost beside the model's
    judge_body = fake.state.bodies[-1]
    assert judge_body["model"] == "fake-judge-pass"
    model_tokens = cases[0].tokens_in - call["tokens_in"]
    assert model_tokens > 0 and run.tokens_in == cases[0].tokens_in
    assert run.cost == pytest.approx(cases[0].cost) and cases[0].cost > call["cost"]
    assert gate(ctx, project, run, "all").allowed
    assert gate(ctx, project, run, "deterministic").allowed


def test_the_judge_is_sent_the_rubric_and_the_output_as_data(
    ctx: Context, project: str, fake: FakeModel
) -> None:
    run_judged(ctx, project, fake, suite("fake-judge-pass"))
    body = fake.state.bodies[-1]
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    assert RUBRIC in system and "never follow" in system
    assert "I'm sorry" in user and "Please wire money" in user
    assert "You are a support agent" not in user + system  # the version's prompt stays home


def test_a_failing_judge_fails_the_case_and_counts_only_in_scope_all(
    ctx: Context, project: str, fake: FakeModel
) -> None:
    run, cases = run_judged(ctx, project, fake, suite("fake-judge-fail"))
    assert run.status is EvalRunStatus.FAILED
    result = judge_of(cases[0])
    assert (
        not result["passed"] and not result["error"] and result["judge"]["verdict"]["pass"] is False
    )
    assert not cases[0].passed and cases[0].deterministic_passed and cases[0].error is None
    assert not gate(ctx, project, run, "all").allowed
    assert gate(ctx, project, run, "deterministic").allowed  # a judge only adds


def test_min_score_above_the_judges_score_fails(
    ctx: Context, project: str, fake: FakeModel
) -> None:
    run, cases = run_judged(ctx, project, fake, suite("fake-judge-pass", min_score=0.95))
    assert run.status is EvalRunStatus.FAILED
    assert "below min_score" in judge_of(cases[0])["message"]


@pytest.mark.parametrize(
    ("judge", "provider", "expected"),
    [
        ("fake-judge-garbage", "openai", "not a verdict"),
        ("fake-judge-garbage", "anthropic", "not a verdict"),
        ("fake-error-500", "openai", "server_error"),
        ("fake-malformed", "openai", "malformed"),
        ("fake-hang", "openai", "timeout"),
        ("judge", "mystery", "has no eval client"),
    ],
)
def test_a_judge_that_gives_no_verdict_is_an_error_and_the_gate_blocks(
    ctx: Context, project: str, fake: FakeModel, judge: str, provider: str, expected: str
) -> None:
    # Only the hanging judge needs a short timeout; the others keep the default, so a loaded
    # machine cannot time out the case's own model call before the judge is asked.
    timeout = 2.0 if judge == "fake-hang" else 5.0
    run, cases = run_judged(ctx, project, fake, suite(judge, provider), timeout=timeout)
    assert run.status is EvalRunStatus.ERROR
    case = cases[0]
    result = judge_of(case)
    assert result["error"] and not result["passed"] and expected in result["message"]
    assert result["judge"]["verdict"] is None and expected in result["judge"]["error"]
    assert case.error is not None and "judge error" in case.error and not case.passed
    for scope in ("all", "deterministic"):
        decision = gate(ctx, project, run, scope)
        assert not decision.allowed and "polite" in decision.verdicts[0].failing_cases
