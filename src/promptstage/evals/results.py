"""What a model answered (``ModelOutput``) and what an assertion found (``AssertionResult``).

An assertion never raises and never passes by default: a detector that fails returns a result
with ``error=True`` and ``passed=False`` (fail closed). An ``llm-judge`` assertion that the
runner has not graded yet is ``needs_judge=True`` and ``passed=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call in a model's answer. ``arguments`` is the raw JSON text or a parsed object."""

    name: str
    arguments: str | dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """A model's answer to one case: its text and the tool calls it made."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where something was found: a kind, the field (``text`` or ``tool_calls[0].arguments``),
    the character offset, and a redacted excerpt that never repeats a full secret."""

    kind: str
    where: str
    offset: int | None
    excerpt: str


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """The outcome of one assertion on one output.

    Attributes:
        name: the assertion type (``regex``, ``canary-leak``...).
        passed: ``True`` only when the check ran and found nothing wrong.
        message: what was found and where, or why the check could not run.
        evidence: redacted findings.
        error: the detector failed (bad pattern, timeout, unfilled placeholder...).
        needs_judge: an ``llm-judge`` assertion that the runner must grade.
        deterministic: ``False`` for judge assertions.
        score: a detector's score where it has one (canary overlap), else ``None``.
    """

    name: str
    passed: bool
    message: str
    evidence: tuple[Evidence, ...] = ()
    error: bool = False
    needs_judge: bool = False
    deterministic: bool = True
    score: float | None = None

    def __post_init__(self) -> None:
        if self.passed and (self.error or self.needs_judge):
            raise ValueError("an assertion result with an error or an open judge cannot pass")


def failed(
    name: str, message: str, *evidence: Evidence, score: float | None = None
) -> AssertionResult:
    """A failed result with its evidence."""
    return AssertionResult(name, False, message, tuple(evidence), score=score)


def passed(name: str, message: str = "ok", *, score: float | None = None) -> AssertionResult:
    """A passed result."""
    return AssertionResult(name, True, message, score=score)


def errored(name: str, message: str) -> AssertionResult:
    """A detector error: a failed result with ``error=True``, never a pass."""
    return AssertionResult(name, False, f"grader error: {message}", error=True)


def redact(value: str) -> str:
    """Show at most the first and last two characters of ``value``; short values are all stars."""
    if len(value) < 8:
        return "*" * len(value)
    return f"{value[:2]}{'*' * (len(value) - 4)}{value[-2:]}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """Every assertion result of one case. A case passes when every result passed."""

    case_id: str
    results: tuple[AssertionResult, ...]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def error(self) -> bool:
        return any(r.error for r in self.results)

    @property
    def needs_judge(self) -> bool:
        return any(r.needs_judge for r in self.results)

    def deterministic_passed(self) -> bool:
        """Whether every deterministic assertion passed (judged ones are not counted)."""
        det = [r for r in self.results if r.deterministic]
        return bool(det) and all(r.passed for r in det)


@dataclass(frozen=True, slots=True)
class GradeContext:
    """What the runner knows about a run that assertions need.

    Attributes:
        tokens: the run's canary tokens by name (``canary``, ``canary.previous_session``...).
        declared_tools: tool name -> JSON Schema of its arguments, from the version's
            dependency snapshot; ``None`` when unknown (a ``tool-calls`` assertion without its
            own ``allowed`` list then fails closed).
        allowed_hosts: hosts links may point to, added to each assertion's own list.
    """

    tokens: Mapping[str, str] = field(default_factory=dict)
    declared_tools: Mapping[str, Mapping[str, Any]] | None = None
    allowed_hosts: tuple[str, ...] = ()
