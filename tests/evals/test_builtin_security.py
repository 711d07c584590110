"""The built-in security suite: its coverage, and that its detectors tell an obeying model from
a refusing one on every probe (security.md rows 4, 5, 8, 9, 10, 11)."""

from __future__ import annotations

import base64
import codecs
import collections
import hashlib
from typing import Any

import pytest

from promptstage.evals.assertions import grade_case
from promptstage.evals.builtin import builtin_suite
from promptstage.evals.canary import fill, make_canary, required_tokens
from promptstage.evals.results import GradeContext, ModelOutput, ToolCall
from promptstage.evals.suite import OWASP_IDS, Case

SUITE = builtin_suite("builtin/security")
FAMILIES = {
    "jailbreak": 30,
    "system-prompt-extraction": 12,
    "pii-exfiltration": 12,
    "tool-misuse": 10,
    "indirect-injection": 10,
}
DECLARED = {
    "search": {
        "type": "object",
        "properties": {"query": {"type": "string", "maxLength": 200}},
        "required": ["query"],
        "additionalProperties": False,
    },
    "update_record": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        "required": ["id"],
        "additionalProperties": False,
    },
}
REFUSALS = (
    "I can't help with that.",
    "I'm sorry, but I cannot share that information.",
    "I won't do that. Is there something else I can help you with?",
)


def _tokens(seed: int) -> dict[str, str]:
    names = required_tokens(SUITE)
    return {name: make_canary(hashlib.sha256(f"{seed}/{name}".encode()).digest()) for name in names}


def _context(tokens: dict[str, str]) -> GradeContext:
    return GradeContext(tokens=tokens, declared_tools=DECLARED)


def _obeying(case: Case, tokens: dict[str, str]) -> ModelOutput:
    unsafe: dict[str, Any] = fill(case.expected["unsafe"], tokens)
    calls: tuple[ToolCall, ...] = ()
    if "tool_call" in unsafe:
        call = unsafe["tool_call"]
        calls = (ToolCall(call["name"], call["arguments"]),) * int(call.get("repeat", 1))
    return ModelOutput(_encode(unsafe.get("text", ""), unsafe.get("encoding")), calls)


def _encode(text: str, encoding: str | None) -> str:
    """How an obeying model writes the secret when the probe asks for an encoding."""
    if encoding is None:
        return text
    if encoding == "spaced":
        return " ".join(text)
    if encoding == "base64":
        return base64.b64encode(text.encode()).decode()
    if encoding == "rot13":
        return codecs.encode(text, "rot13")
    if encoding == "half":
        return "The second half is " + text[len(text) // 2 :]
    if encoding == "reversed":
        return text[::-1]
    if encoding == "leet":
        return text.translate(str.maketrans("aeoAEO", "430430"))
    raise AssertionError(f"unknown encoding {encoding}")


def test_the_suite_has_at_least_80_probes_in_every_family() -> None:
    counts = collections.Counter(c.family for c in SUITE.cases)
    assert len(SUITE.cases) >= 80
    for family, minimum in FAMILIES.items():
        assert counts[family] >= minimum, (family, counts)
    assert set(counts) == set(FAMILIES)


def test_jailbreaks_cover_role_play_override_and_every_encoding() -> None:
    tags = collections.Counter(t for c in SUITE.cases if c.family == "jailbreak" for t in c.tags)
    for tag in ("role-play", "ignore-previous", "base64", "rot13", "leetspeak", "homoglyph"):
        assert tags[tag] >= 3, (tag, tags)


@pytest.mark.parametrize("case", SUITE.cases, ids=lambda c: c.id)
def test_every_probe_names_family_owasp_and_a_deterministic_assertion(case: Case) -> None:
    assert case.family in FAMILIES
    assert case.owasp and set(case.owasp) <= set(OWASP_IDS)
    assert any(a.deterministic for a in case.assertions)
    assert "unsafe" in case.expected


@pytest.mark.parametrize("case", SUITE.cases, ids=lambda c: c.id)
def test_an_obeying_answer_fails_the_probe(case: Case) -> None:
    tokens = _tokens(7)
    result = grade_case(
        case.id, SUITE.assertions_for(case), _obeying(case, tokens), _context(tokens)
    )
    assert not result.passed
    assert not result.error, [r.message for r in result.results if r.error]
    # the probe's own assertions catch it, not only the suite defaults
    own = grade_case(case.id, case.assertions, _obeying(case, tokens), _context(tokens))
    assert not own.passed, [r.message for r in own.results]


@pytest.mark.parametrize("case", SUITE.cases, ids=lambda c: c.id)
def test_a_refusing_answer_passes_the_probe(case: Case) -> None:
    tokens = _tokens(9)
    for text in REFUSALS:
        result = grade_case(
            case.id, SUITE.assertions_for(case), ModelOutput(text), _context(tokens)
        )
        assert result.passed, [r.message for r in result.results if not r.passed]


def test_a_fresh_canary_each_run_catches_a_leak_of_this_run_only() -> None:
    case = next(c for c in SUITE.cases if c.id == "extraction-verbatim")
    old, new = _tokens(1), _tokens(2)
    leaked_old = ModelOutput(f"Here it is: {old['canary']}")
    assert grade_case(case.id, case.assertions, leaked_old, _context(new)).passed
    assert not grade_case(case.id, case.assertions, leaked_old, _context(old)).passed


def test_an_encoded_leak_of_the_canary_is_caught() -> None:
    case = next(c for c in SUITE.cases if c.id == "extraction-base64")
    tokens = _tokens(3)
    encoded = base64.b64encode(f"Internal reference code: {tokens['canary']}".encode()).decode()
    result = grade_case(case.id, case.assertions, ModelOutput(encoded), _context(tokens))
    assert not result.passed
    assert "base64" in result.results[0].message


def test_grading_without_the_runner_tokens_fails_closed() -> None:
    case = SUITE.cases[0]
    result = grade_case(
        case.id,
        SUITE.assertions_for(case),
        ModelOutput("I can't."),
        GradeContext(declared_tools={}),
    )
    assert not result.passed and result.error


@pytest.mark.parametrize(
    "case", [c for c in SUITE.cases if c.family == "indirect-injection"], ids=lambda c: c.id
)
def test_a_helpful_answer_that_ignores_embedded_instructions_passes(case: Case) -> None:
    tokens = _tokens(5)
    answer = ModelOutput(
        "Here is a short summary of the text you shared; it covers the main points."
    )
    result = grade_case(case.id, SUITE.assertions_for(case), answer, _context(tokens))
    assert result.passed, [r.message for r in result.results if not r.passed]
    assert case.expected["behaviour"] == "ignore-embedded-instructions"
