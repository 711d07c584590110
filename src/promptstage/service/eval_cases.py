"""One eval case, from suite case to stored record: render, plant, call, grade (fail closed).

The delivery contract is the one ``evals.delivery`` and ``evals.canary`` describe: the case's
vars and history get the run's canary tokens filled in; the vars the version declares render
its template, the others become the final user message; the run's ``canary`` token is planted
in the system prompt; a built-in probe renders the version's required variables it does not set
as stand-ins (``evals.delivery.stand_ins``). An ``llm-judge`` assertion is graded by its pinned
judge model (``service.eval_judge``); its tokens and cost count in the case's. A provider error,
a render error, a grader error or a judge that did not give a verdict makes the case an error:
it never passes.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptstage.domain.config import Config, ModelRef
from promptstage.domain.evals import EvalCaseRecord
from promptstage.domain.models import Version
from promptstage.domain.template import CompiledTemplate
from promptstage.errors import PromptstageError
from promptstage.evals.assertions import grade_case
from promptstage.evals.canary import fill, make_canary, plant_canary, required_tokens
from promptstage.evals.delivery import leftover_message, split_vars, stand_ins
from promptstage.evals.providers import Completion, Provider, ProviderError, RenderedPrompt
from promptstage.evals.results import AssertionResult, GradeContext, ModelOutput, ToolCall
from promptstage.evals.suite import BUILTIN_PREFIX, Case, Suite

from .eval_judge import JudgeClients, Judged, add_cost, judge_all, with_judges

NO_JUDGE = (
    "no judge client was given to grade this llm-judge assertion; it counts as an error, "
    "never a pass"
)
_HISTORY_ROLES = {"developer": "system", "tool": "user"}


def fresh_tokens(suite: Suite) -> dict[str, str]:
    """A new canary for every token the suite names (``canary`` always), from fresh entropy."""
    return {name: make_canary(secrets.token_bytes(10)) for name in sorted(required_tokens(suite))}


@dataclass(frozen=True, slots=True)
class Target:
    """What every case of a run is sent to: the version, its compiled template, its config
    and the model the run calls."""

    version: Version
    compiled: CompiledTemplate
    config: Config
    model: ModelRef
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, version: Version, model: Mapping[str, str], allowed_hosts: tuple[str, ...] = ()
    ) -> Target:
        compiled = CompiledTemplate(
            version.type, version.template, version.variables, version.includes
        )
        return cls(
            version,
            compiled,
            Config.from_dict(version.config),
            ModelRef(model["provider"], model["name"], model["version"]),
            allowed_hosts,
        )


def build_prompt(
    target: Target, case: Case, tokens: Mapping[str, str], *, builtin: bool = False
) -> RenderedPrompt:
    """The messages a case sends (see the module docstring). ``builtin``: the case is a
    built-in probe, whose unset required variables render as stand-ins (``[clinic_name]``).

    Raises:
        TemplateError: the case's vars do not render the version's template.
    """
    filled = dataclasses.replace(case, vars=fill(case.vars, tokens))
    values, leftover = split_vars(filled, target.compiled.declared)
    if builtin:
        values = {**stand_ins(target.compiled.declared, values), **values}
    rendered = target.compiled.render(values)
    planted = plant_canary(target.version.type, rendered, tokens["canary"])
    messages: list[dict[str, str]] = (
        [{"role": "user", "content": planted}] if isinstance(planted, str) else list(planted)
    )
    for turn in fill(list(case.history), tokens):
        role = _HISTORY_ROLES.get(turn["role"], turn["role"])
        messages.append({"role": role, "content": turn["content"]})
    last = leftover_message(leftover)
    if last is not None:
        messages.append({"role": "user", "content": last})
    return RenderedPrompt.from_render(messages)


def _request_json(prompt: RenderedPrompt, target: Target) -> dict[str, Any]:
    return {
        "system": prompt.system,
        "messages": [{"role": m.role, "content": m.content} for m in prompt.messages],
        "model": dataclasses.asdict(target.model),
        "tools": [t.name for t in target.config.tools],
    }


def assertion_json(result: AssertionResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "passed": result.passed,
        "message": result.message,
        "error": result.error,
        "needs_judge": result.needs_judge,
        "deterministic": result.deterministic,
        "score": result.score,
        "evidence": [dataclasses.asdict(e) for e in result.evidence],
    }


def _output(completion: Completion) -> ModelOutput:
    return ModelOutput(
        completion.text,
        tuple(
            ToolCall(c.name, c.parsed if c.parsed is not None else c.arguments)
            for c in completion.tool_calls
        ),
    )


async def grade(
    suite: Suite,
    case: Case,
    completion: Completion,
    target: Target,
    tokens: Mapping[str, str],
    judges: JudgeClients | None = None,
) -> tuple[Judged, str | None]:
    """Every assertion result of a case (its ``llm-judge`` ones graded by their pinned judges
    through ``judges``; without them, errors) and the case's error (``None`` when none)."""
    context = GradeContext(
        tokens=dict(tokens),
        declared_tools={t.name: t.parameters for t in target.config.tools},
        allowed_hosts=target.allowed_hosts,
    )
    specs = suite.assertions_for(case)
    output = _output(completion)
    try:
        graded = grade_case(case.id, specs, output, context)
    except Exception as exc:  # fail closed: a grader that raises is an error, never a pass
        return Judged([]), f"grader error: {type(exc).__name__}: {exc}"[:500]
    judged = await judge_all(judges, specs, graded.results, case, output, NO_JUDGE)
    results = judged.results
    if not results:
        return judged, "the case has no assertion to grade"
    first = next((r for r in results if r.error or r.needs_judge), None)
    return judged, None if first is None else f"{first.name}: {first.message}"[:500]


async def run_case(
    provider: Provider,
    suite: Suite,
    target: Target,
    run_id: str,
    index: int,
    case: Case,
    tokens: Mapping[str, str],
    now: datetime,
    judges: JudgeClients | None = None,
) -> EvalCaseRecord:
    """Render, call and grade one case (its judges through ``judges``); every failure is an
    error record, never a pass."""
    base: dict[str, Any] = {"run_id": run_id, "case_id": case.id, "index": index, "at": now}
    try:
        builtin = suite.name.startswith(BUILTIN_PREFIX)
        prompt = build_prompt(target, case, tokens, builtin=builtin)
    except PromptstageError as exc:
        return _errored(base, {"case": case.id}, f"the case does not render: {exc.message}")
    request = _request_json(prompt, target)
    started = time.monotonic()
    outcome = await provider.complete(prompt, target.config, model=target.model)
    if isinstance(outcome, ProviderError):
        message = (
            f"provider {outcome.kind.value} after {outcome.attempts} attempt(s): {outcome.message}"
        )
        return dataclasses.replace(
            _errored(base, request, message),
            latency_ms=round((time.monotonic() - started) * 1000, 3),
        )
    judged, error = await grade(suite, case, outcome, target, tokens, judges)
    results = judged.results
    assertions = [assertion_json(r) for r in results]
    with_judges(assertions, judged.calls)
    passed = error is None and bool(results) and all(r.passed for r in results)
    deterministic = [r for r in results if r.deterministic]
    return EvalCaseRecord(
        **base,
        request=request,
        response={
            "text": outcome.text,
            "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in outcome.tool_calls],
            "finish_reason": outcome.finish_reason,
            "model": outcome.model,
        },
        assertions=assertions,
        passed=passed,
        error=error,
        needs_judge=any(r.needs_judge for r in results),
        deterministic_passed=bool(deterministic) and all(r.passed for r in deterministic),
        has_deterministic=bool(deterministic),
        tokens_in=_add_tokens(outcome.input_tokens, judged.tokens_in),
        tokens_out=_add_tokens(outcome.output_tokens, judged.tokens_out),
        latency_ms=round(outcome.latency_seconds * 1000, 3),
        cost=add_cost(outcome.cost_usd, judged.cost),
    )


def _add_tokens(model: int | None, judges: int) -> int | None:
    return model if not judges else (model or 0) + judges


def _errored(base: dict[str, Any], request: dict[str, Any], message: str) -> EvalCaseRecord:
    return EvalCaseRecord(
        **base,
        request=request,
        response=None,
        assertions=[],
        passed=False,
        error=message[:1000],
        needs_judge=False,
        deterministic_passed=False,
        has_deterministic=False,
    )
