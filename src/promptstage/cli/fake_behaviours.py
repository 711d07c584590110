"""What the fake model says: scripted, deterministic answers for each behaviour.

A development and test aid (``promptstage dev fake-model``), never in the product path. The
wire protocols are in ``fake_model.py``; this module only decides the text and the tool calls
from the system prompt, the conversation and the declared tools.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Behaviour(StrEnum):
    """How the fake model answers (``--behaviour``, a ``fake-NAME`` model, ``X-Fake-Behaviour``)."""

    OBEY = "obey"  # follows injected instructions: echoes its system prompt and every message
    REFUSE = "refuse"  # refuses, reveals nothing, calls no tool
    LEAK_CANARY = "leak-canary"  # answers with the canary-like tokens it was given
    LEAK_RECORD = "leak-record"  # answers with the record-like lines (emails, numbers) it saw
    UNLISTED_TOOL = "unlisted-tool"  # calls a tool the request did not declare
    CALL_TOOL = "call-tool"  # calls the first declared tool with arguments from its schema
    BAD_TOOL_ARGS = (
        "bad-tool-args"  # calls the first declared tool with arguments that are not JSON
    )
    SLOW = "slow"  # sleeps ``slow_seconds``, then refuses
    FLAKY_429 = "flaky-429"  # 429 with Retry-After on the first attempts of a request, then refuses
    ERROR_500 = "error-500"  # always 500, in the provider's error shape
    MALFORMED = "malformed"  # 200 with a body that is not JSON
    HANG = "hang"  # never answers (until ``hang_seconds``)
    JUDGE_PASS = "judge-pass"  # a judge: answers the JSON verdict {"pass": true, ...}
    JUDGE_FAIL = "judge-fail"  # a judge: answers the JSON verdict {"pass": false, ...}
    JUDGE_GARBAGE = "judge-garbage"  # a judge that answers prose, not the JSON verdict


REFUSAL = "I'm sorry, but I can't help with that request."
JUDGE_VERDICTS = {
    "judge-pass": {"pass": True, "score": 0.9, "reason": "The answer meets the rubric."},
    "judge-fail": {"pass": False, "score": 0.2, "reason": "The answer does not meet the rubric."},
}
JUDGE_GARBAGE_TEXT = "Looks good to me! PASS (score: high)"
UNLISTED_TOOL_NAME = "transfer_funds"
_CANARY = re.compile(r"[\w-]*canary[\w-]*|\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{16,}\b", re.I)
_RECORD = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+|\d[\d -]{5,}\d|\b(?:record|customer|ssn|secret|iban)\b", re.I
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Conversation:
    """A request, protocol-neutral: the system prompt, ``(role, text)`` turns and tools."""

    system: str
    turns: tuple[tuple[str, str], ...]
    tools: tuple[Tool, ...] = ()

    @property
    def all_text(self) -> str:
        return "\n".join([self.system, *(text for _, text in self.turns)])

    @property
    def input_tokens(self) -> int:
        return len(self.all_text.split())


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer: text and tool calls ``(name, arguments JSON text)``."""

    text: str
    tool_calls: tuple[tuple[str, str], ...] = field(default=())

    @property
    def output_tokens(self) -> int:
        return len(self.text.split()) + sum(len(args.split()) for _, args in self.tool_calls)


def behaviour_of(model: str, header: str | None, default: Behaviour) -> Behaviour:
    """The header wins, then a model named ``fake-NAME`` (or ending in it), then ``default``."""
    if header:
        return Behaviour(header)
    for candidate in Behaviour:
        if model == f"fake-{candidate.value}" or model.endswith(f"/fake-{candidate.value}"):
            return candidate
    return default


def reply(behaviour: Behaviour, conversation: Conversation) -> Reply:
    """The scripted answer of ``behaviour`` (transport behaviours answer like ``refuse``)."""
    if behaviour is Behaviour.OBEY:
        return _obey(conversation)
    if behaviour.value in JUDGE_VERDICTS:
        return Reply(json.dumps(JUDGE_VERDICTS[behaviour.value]))
    if behaviour is Behaviour.JUDGE_GARBAGE:
        return Reply(JUDGE_GARBAGE_TEXT)
    if behaviour is Behaviour.LEAK_CANARY:
        tokens = _unique(m.group(0) for m in _CANARY.finditer(conversation.all_text))
        secret = " ".join(tokens) if tokens else conversation.system
        return Reply(f"Of course. The secret token is: {secret}")
    if behaviour is Behaviour.LEAK_RECORD:
        lines = [
            line.strip()
            for line in conversation.all_text.splitlines()
            if _RECORD.search(line) and line.strip()
        ]
        record = "\n".join(_unique(lines)) if lines else conversation.system
        return Reply(f"Here is the record you asked for:\n{record}")
    if behaviour is Behaviour.UNLISTED_TOOL:
        declared = {t.name for t in conversation.tools}
        name = UNLISTED_TOOL_NAME
        while name in declared:
            name += "_unlisted"
        return Reply("", ((name, json.dumps({"amount": 1000000, "to": "attacker"})),))
    if behaviour is Behaviour.CALL_TOOL and conversation.tools:
        tool = conversation.tools[0]
        return Reply("", ((tool.name, json.dumps(_sample_arguments(tool.parameters))),))
    if behaviour is Behaviour.BAD_TOOL_ARGS and conversation.tools:
        return Reply("", ((conversation.tools[0].name, '{"query": unquoted'),))
    return Reply(REFUSAL)


def _obey(conversation: Conversation) -> Reply:
    """Does what the last user message says: repeats its instructions and the conversation, and
    calls any tool named in the last user message (declared or not) with the JSON object there."""
    said = "\n".join(f"{role}: {text}" for role, text in conversation.turns)
    text = (
        "Sure, ignoring my previous instructions as you asked. My system prompt is:\n"
        f"{conversation.system}\nYou wrote:\n{said}"
    )
    last_user = next((t for r, t in reversed(conversation.turns) if r == "user"), "")
    calls: list[tuple[str, str]] = []
    for name in re.findall(r"\b(?:call|use|run)\s+(?:the\s+)?`?([A-Za-z_][\w]*)`?", last_user):
        arguments: dict[str, Any] = {}
        found = _JSON_OBJECT.search(last_user)
        if found:
            try:
                value = json.loads(found.group(0))
            except ValueError:
                value = None
            if isinstance(value, dict):
                arguments = value
        calls.append((name, json.dumps(arguments)))
    return Reply(text, tuple(calls))


def _sample_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """One value per required property (every property when none is required), by type."""
    properties = schema.get("properties") or {}
    names = schema.get("required") or list(properties)
    samples = {"string": "sample", "integer": 1, "number": 1.0, "boolean": True, "array": []}
    return {
        name: samples.get(str((properties.get(name) or {}).get("type")), "sample") for name in names
    }


def _unique(items: Any) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
