"""Generation spans that name a prompt become call-log records (the Langfuse SDK's OTel export).

A span counts when it carries ``langfuse.observation.prompt.name`` and ``.version`` (the Langfuse
SDK sets them on a generation linked to a prompt). Its latency, tokens, cost, model and error
status become one call record, ingested by :func:`promptstage.service.calls.ingest_calls`, the
same door as ``POST /calls``, so the release controller counts it. The label, release and arm
are worked out as the facade served them: a label's running release and the span's unit
(``promptstage.unit``, else ``user.id``, else ``session.id``) give the arm ``resolve`` picks; no
unit is the baseline, unitless.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from promptstage.errors import PromptstageError
from promptstage.rollout.resolve import resolve

from .calls import ingest_calls
from .context import Context
from .project_state import ProjectState
from .prompts import get_version

PROMPT_NAME = "langfuse.observation.prompt.name"
PROMPT_VERSION = "langfuse.observation.prompt.version"
UNIT_KEYS = ("promptstage.unit", "user.id", "session.id")
MODEL_KEYS = ("langfuse.observation.model.name", "gen_ai.response.model", "gen_ai.request.model")


@dataclass(frozen=True, slots=True)
class Span:
    """What one OTLP span carries that a call record needs (decoded at the edge)."""

    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    failed: bool = False
    status_message: str = ""


@dataclass(frozen=True, slots=True)
class Ingested:
    accepted: int
    new: int
    rejected: int
    reasons: list[str]


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return value


def _tokens(attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    usage = _json_object(attrs.get("langfuse.observation.usage_details"))
    tokens_in = usage.get("input", usage.get("prompt_tokens", usage.get("input_tokens")))
    tokens_out = usage.get("output", usage.get("completion_tokens", usage.get("output_tokens")))
    tokens_in = attrs.get("gen_ai.usage.input_tokens", tokens_in)
    tokens_out = attrs.get("gen_ai.usage.output_tokens", tokens_out)
    return _count(tokens_in), _count(tokens_out)


def _count(value: Any) -> int | None:
    """A token count: a non-negative integer (OTLP/JSON may send it as a string)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(_number(value), int) else None


def _cost(attrs: dict[str, Any]) -> float | None:
    details = _json_object(attrs.get("langfuse.observation.cost_details"))
    if "total" in details:
        return _number(details["total"])
    parts = [_number(v) for v in details.values()]
    return sum(p for p in parts if p is not None) if parts else None


def _error(span: Span) -> str | None:
    level = span.attributes.get("langfuse.observation.level")
    if not span.failed and level != "ERROR":
        return None
    message = span.attributes.get("langfuse.observation.status_message") or span.status_message
    return str(message or "error")[:4000]


def _placement(
    state: ProjectState, prompt: str, number: int, unit: str | None, production: str
) -> tuple[str, str | None, str]:
    """``(label, release_id, arm)`` of a call that used version ``number`` of ``prompt``."""
    held = state.prompt_labels.get(prompt, {})
    order = sorted(held, key=lambda label: (label != production, label == "latest", label))
    for label in order:
        release = state.releases.get((prompt, label))
        if release is not None and number in (release.baseline_version, release.candidate_version):
            found = resolve(held[label], release, unit, {})
            if found.version == number:
                return label, found.release_id, found.arm
    for label in order:
        if held[label] == number:
            return label, None, "baseline"
    return "latest", None, "pinned"  # fetched by version number: no label served it


def call_record(
    ctx: Context,
    state: ProjectState,
    span: Span,
    production: str,
    digests: dict[tuple[str, int], str | None],
) -> dict[str, Any] | str:
    """The ``/calls`` item of one span, or why it is not one (a sentence); ``digests`` memoizes
    the versions looked up."""
    attrs = span.attributes
    prompt, number = attrs.get(PROMPT_NAME), attrs.get(PROMPT_VERSION)
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if not isinstance(prompt, str) or not isinstance(number, int) or isinstance(number, bool):
        return "no prompt"
    key = (prompt, number)
    if key not in digests:
        try:
            digests[key] = get_version(ctx, state.project, prompt, number).digest
        except PromptstageError:  # not found, or not even a prompt name: not ours
            digests[key] = None
    digest = digests[key]
    if digest is None:
        return f"prompt {prompt!r} version {number} is not in project {state.project!r}"
    unit = next((str(attrs[k]) for k in UNIT_KEYS if attrs.get(k) not in (None, "")), None)
    label, release_id, arm = _placement(state, prompt, number, unit, production)
    tokens_in, tokens_out = _tokens(attrs)
    model = next((attrs[k] for k in MODEL_KEYS if isinstance(attrs.get(k), str)), None)
    at = datetime.fromtimestamp((span.end_ns or span.start_ns) / 1e9, UTC)
    return {
        "id": f"{span.trace_id}{span.span_id}"[:64] or "span",
        "at": at.isoformat(),
        "prompt": prompt,
        "label": label,
        "version": number,
        "digest": digest,
        "release_id": release_id,
        "arm": arm,
        "unit_hash": None
        if unit is None
        else hashlib.sha256(f"{state.project}:{unit}".encode()).hexdigest()[:32],
        "model": model[:256] if model else None,
        "latency_ms": max(0.0, (span.end_ns - span.start_ns) / 1e6) if span.end_ns else None,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": _cost(attrs),
        "error": _error(span),
    }


def ingest_spans(ctx: Context, state: ProjectState, spans: list[Span], production: str) -> Ingested:
    """Ingest the spans that name a prompt version; the others are counted, not stored."""
    records: list[dict[str, Any]] = []
    reasons: list[str] = []
    digests: dict[tuple[str, int], str | None] = {}
    for span in spans:
        found = call_record(ctx, state, span, production, digests)
        if isinstance(found, dict):
            records.append(found)
        elif found != "no prompt":
            reasons.append(found)
    new = 0
    for start in range(0, len(records), 1000):
        new += ingest_calls(ctx, state.project, {"calls": records[start : start + 1000]})["new"]
    return Ingested(len(records), new, len(reasons), sorted(set(reasons))[:5])
