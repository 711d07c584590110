"""Grading ``llm-judge`` assertions: call the pinned judge model, store what it said.

For each assertion the pure grader left ``needs_judge``, ``judge_all`` sends the request of
``evals.judge`` to the assertion's pinned model (``{provider, name, version}``) through the same
provider clients as the run, and replaces the open result with the judge's: a pass or a fail
from the verdict, or an error (fail closed) when the provider cannot be opened, the call fails
or times out, or the answer is not the JSON verdict. Each judged assertion carries a ``judge``
record (model, raw answer, verdict, tokens, cost, latency, error) that the runner stores with the
case's assertion results and adds to the case's tokens and cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from promptstage.domain.config import Config, ModelRef
from promptstage.errors import PromptstageError
from promptstage.evals.assertion_specs import AssertionSpec
from promptstage.evals.judge import judge_error, judge_request, judged
from promptstage.evals.providers import Message, Provider, ProviderError, RenderedPrompt
from promptstage.evals.results import AssertionResult, ModelOutput
from promptstage.evals.suite import Case

MAX_RAW_CHARS = 4_000


class JudgeClients:
    """The providers of one run's judges, opened on first use and closed with ``aclose``.

    ``factory`` is the runner's provider factory (``provider name -> Provider``); a factory
    that raises (unknown provider, unset key variable) makes that judge an error.
    """

    def __init__(self, factory: Callable[[str], Provider]) -> None:
        self._factory = factory
        self._open: dict[str, Provider] = {}

    def get(self, provider: str) -> Provider:
        """The client of ``provider``.

        Raises:
            PromptstageError: the factory's error (``ConfigurationError``).
        """
        if provider not in self._open:
            self._open[provider] = self._factory(provider)
        return self._open[provider]

    async def aclose(self) -> None:
        """Close every client this opened."""
        opened, self._open = list(self._open.values()), {}
        for client in opened:
            await client.aclose()


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """What one judge call did, stored with its assertion result as ``judge``."""

    model: dict[str, str]
    answer: str | None = None
    verdict: dict[str, Any] | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class Judged:
    """The case's results with the judges' answers in, and the judge calls' totals."""

    results: list[AssertionResult]
    calls: dict[int, JudgeCall] = field(default_factory=dict)

    @property
    def tokens_in(self) -> int:
        return sum(c.tokens_in or 0 for c in self.calls.values())

    @property
    def tokens_out(self) -> int:
        return sum(c.tokens_out or 0 for c in self.calls.values())

    @property
    def cost(self) -> float | None:
        known = [c.cost for c in self.calls.values() if c.cost is not None]
        return sum(known) if known else None


def case_input(case: Case) -> dict[str, Any]:
    """The case as the judge sees it (as written in the suite: no canary token filled in)."""
    return {
        "id": case.id,
        "description": case.description,
        "vars": case.vars,
        "history": [dict(m) for m in case.history],
        "expected": case.expected,
    }


async def judge_one(
    clients: JudgeClients, spec: AssertionSpec, case: Case, output: ModelOutput
) -> tuple[AssertionResult, JudgeCall]:
    """Ask ``spec``'s pinned judge about ``output``; every failure is an error result."""
    model = dict(spec.params["model"])
    ref = ModelRef(model["provider"], model["name"], model["version"])
    try:
        provider = clients.get(ref.provider)
    except PromptstageError as exc:
        return judge_error(spec.type, exc.message), JudgeCall(model, error=exc.message[:1000])
    request = judge_request(spec, case_input(case), output)
    prompt = RenderedPrompt(request.system, (Message("user", request.user),))
    config = Config(ref, {}, (), None, None, {})
    outcome = await provider.complete(prompt, config, model=ref)
    if isinstance(outcome, ProviderError):
        why = (
            f"provider {outcome.kind.value} after {outcome.attempts} attempt(s): {outcome.message}"
        )
        return judge_error(spec.type, why), JudgeCall(model, error=why[:1000])
    result, verdict = judged(spec, outcome.text)
    call = JudgeCall(
        model,
        answer=outcome.text[:MAX_RAW_CHARS],
        verdict=None if verdict is None else verdict.to_dict(),
        tokens_in=outcome.input_tokens,
        tokens_out=outcome.output_tokens,
        cost=outcome.cost_usd,
        latency_ms=round(outcome.latency_seconds * 1000, 3),
        error=result.message[:1000] if result.error else None,
    )
    return result, call


async def judge_all(
    clients: JudgeClients | None,
    specs: Sequence[AssertionSpec],
    results: Sequence[AssertionResult],
    case: Case,
    output: ModelOutput,
    no_judge: str,
) -> Judged:
    """Every result of a case with its ``needs_judge`` ones graded by their judges, in order.

    ``results[i]`` is the result of ``specs[i]``. Without ``clients`` every open judge is an
    error (``no_judge``), never a pass.
    """
    out = Judged(list(results))
    for i, (spec, result) in enumerate(zip(specs, results, strict=True)):
        if not result.needs_judge:
            continue
        if clients is None:
            out.results[i] = judge_error(result.name, no_judge)
            continue
        out.results[i], out.calls[i] = await judge_one(clients, spec, case, output)
    return out


def add_cost(a: float | None, b: float | None) -> float | None:
    """The sum of the known costs (``None`` when neither is known)."""
    return None if a is None and b is None else (a or 0.0) + (b or 0.0)


def with_judges(assertions: list[dict[str, Any]], calls: Mapping[int, JudgeCall]) -> None:
    """Attach each judge call to its assertion's JSON (``judge``), in place."""
    for i, call in calls.items():
        assertions[i]["judge"] = call.to_dict()
