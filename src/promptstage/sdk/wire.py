"""The JSON bodies of ``POST /calls`` and ``POST /scores``, built on the sender thread.

The server validates a batch all or nothing and limits the body size, so a batch is split into
bodies of at most ``max_body`` bytes, oversized values are truncated, values JSON cannot hold
become their ``repr``, and calls that used a fallback (no version to record) are not sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from promptstage.domain.idempotency import HEADER as IDEMPOTENCY_HEADER

from .calls import CALL, SCORE, Record
from .prompt import ResolvedPrompt

__all__ = ["MAX_BODY_BYTES", "MAX_VALUE_CHARS", "Chunk", "encode", "unit_hash"]

MAX_BODY_BYTES: Final = 900_000
"""Below the server's default 1 MiB request limit."""
MAX_VALUE_CHARS: Final = 64 * 1024
"""Longest JSON text kept for one call's output, variables or context."""
_MAX_TEXT: Final = 4000
_MAX_MODEL: Final = 256


@dataclass(frozen=True, slots=True)
class Chunk:
    """One request body and the records it carries (to retry or count them)."""

    kind: str
    records: list[Record]
    body: bytes

    def headers(self) -> dict[str, str]:
        """The request headers of this body.

        Calls carry their ids, and the server skips an id it already stored, so a resent call
        batch never duplicates. Scores have no id: a score body carries an ``Idempotency-Key``
        derived from its bytes, so the same body sent again after a lost answer is answered
        from the first send instead of storing the scores twice.
        """
        headers = {"Content-Type": "application/json"}
        if self.kind == SCORE:
            headers[IDEMPOTENCY_HEADER] = "scores-" + hashlib.sha256(self.body).hexdigest()
        return headers


def unit_hash(project: str, unit: str) -> str:
    """The unit key as it leaves memory: sha256 of ``"{project}:{unit}"``, 32 hex chars."""
    return hashlib.sha256(f"{project}:{unit}".encode()).hexdigest()[:32]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(value: Any) -> str:
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False
    )


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it (objects become ``str``), else its ``repr``."""
    try:
        _dumps(value)
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:MAX_VALUE_CHARS]
    return value


def _bounded(value: Any, *, mapping: bool) -> Any:
    value = _jsonable(dict(value) if isinstance(value, Mapping) else value)
    size = len(_dumps(value))
    if size <= MAX_VALUE_CHARS:
        return value
    if mapping:
        return {"_truncated": f"{size} characters"}
    text = value if isinstance(value, str) else _dumps(value)
    return text[:MAX_VALUE_CHARS] + f"... [truncated from {size} characters]"


def _text(value: Any, limit: int) -> str | None:
    return (str(value)[:limit] or None) if value is not None else None


def _call_json(r: Record, project: str) -> dict[str, Any]:
    prompt: ResolvedPrompt = r[3]
    unit = prompt.unit
    context, variables = r[4], r[5]
    return {
        "id": r[1],
        "at": _iso(r[2]),
        "prompt": prompt.name,
        "label": prompt.label,
        "version": prompt.version,
        "digest": prompt.digest,
        "release_id": prompt.release_id,
        "arm": prompt.arm,
        "unit_hash": unit_hash(project, str(unit)) if unit else None,
        "context": _bounded(context, mapping=True) if isinstance(context, Mapping) else None,
        "variables": _bounded(variables, mapping=True) if isinstance(variables, Mapping) else None,
        "output": _bounded(r[6], mapping=False),
        "model": _text(r[7], _MAX_MODEL),
        "latency_ms": round(r[8], 3),
        "tokens_in": _jsonable(r[9]),
        "tokens_out": _jsonable(r[10]),
        "cost": _jsonable(r[11]),
        "error": _text(r[12], _MAX_TEXT),
        **_reported(r),
    }


def _reported(r: Record) -> dict[str, Any]:
    """``index`` and ``tools`` when the application passed them (absent otherwise, so a server
    that predates them sees the record it always did)."""
    out: dict[str, Any] = {}
    if len(r) > 13 and r[13] is not None:
        out["index"] = _text(r[13], 200)
    if len(r) > 14 and r[14] is not None:
        out["tools"] = [str(t)[:128] for t in r[14]][:128]
    return out


def _score_json(r: Record) -> dict[str, Any]:
    return {"call_id": r[1], "name": r[2], "value": r[3], "source": r[4]}


def _chunks(kind: str, key: str, items: list[tuple[Record, str]], max_body: int) -> Iterator[Chunk]:
    head, tail = f'{{"{key}":['.encode(), b"]}"
    records: list[Record] = []
    parts: list[bytes] = []
    size = len(head) + len(tail)
    for record, text in items:
        data = text.encode()
        if parts and size + len(data) + 1 > max_body:
            yield Chunk(kind, records, head + b",".join(parts) + tail)
            records, parts, size = [], [], len(head) + len(tail)
        records.append(record)
        parts.append(data)
        size += len(data) + 1
    if parts:
        yield Chunk(kind, records, head + b",".join(parts) + tail)


def encode(records: list[Record], project: str, max_body: int = MAX_BODY_BYTES) -> list[Chunk]:
    """The request bodies for a batch of records: calls first, then scores."""
    calls = [
        (r, _dumps(_call_json(r, project)))
        for r in records
        if r[0] == CALL and r[3].version is not None
    ]
    scores = [(r, _dumps(_score_json(r))) for r in records if r[0] == SCORE]
    return [*_chunks(CALL, "calls", calls, max_body), *_chunks(SCORE, "scores", scores, max_body)]
