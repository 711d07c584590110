"""Call records and scores: what the runtime logs for each use of a resolved prompt.

``parse_call`` and ``parse_score`` validate one ingested item (from ``POST /calls`` and
``POST /scores``) and name the offending field with the item's index, e.g. ``calls[3].version``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promptstage.errors import InvalidInputError

from .names import LABEL_NAME, PROMPT_NAME

ARMS = ("baseline", "canary", "control", "fallback", "pinned")
MAX_ID = 64
MAX_TEXT = 4000
SCORE_SOURCES = ("user", "evaluator", "heuristic", "system")


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: str
    at: datetime
    prompt: str
    label: str
    version: int
    digest: str
    release_id: str | None
    arm: str
    unit_hash: str | None
    context: dict[str, Any]
    variables: dict[str, Any] | None
    output: Any
    model: str | None
    latency_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    error: str | None
    # What the application reports it ran on besides the model (drift, docs/dependencies.md).
    index: str | None = None
    tools: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Score:
    call_id: str
    name: str
    value: float
    source: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Which calls to list; ``None`` fields do not filter. ``since`` is inclusive, ``until``
    exclusive."""

    prompt: str | None = None
    version: int | None = None
    release_id: str | None = None
    arm: str | None = None
    since: datetime | None = None
    label: str | None = None
    until: datetime | None = None


class _Item:
    """Field access on one ingested JSON object with errors that name ``where.field``."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, dict):
            raise InvalidInputError(f"{where} must be a JSON object", field=where)
        self.raw = raw
        self.where = where

    def _fail(self, key: str, what: str) -> InvalidInputError:
        return InvalidInputError(f"{self.where}.{key} must be {what}", field=f"{self.where}.{key}")

    def text(
        self,
        key: str,
        *,
        required: bool = True,
        limit: int = MAX_TEXT,
        check: Callable[[str], object] | None = None,
        what: str = "",
    ) -> str | None:
        value = self.raw.get(key)
        if value is None and not required:
            return None
        if (
            not isinstance(value, str)
            or not value
            or len(value) > limit
            or (check and not check(value))
        ):
            raise self._fail(key, what or f"a non-empty string of at most {limit} characters")
        return value

    def number(self, key: str, *, integer: bool = False) -> Any:
        value = self.raw.get(key)
        if value is None:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if (
            not ok
            or isinstance(value, bool)
            or (isinstance(value, float) and not math.isfinite(value))
            or value < 0
        ):
            raise self._fail(key, "a non-negative " + ("integer" if integer else "number"))
        return value

    def timestamp(self, key: str, default: datetime) -> datetime:
        value = self.raw.get(key)
        if value is None:
            return default
        try:
            at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self._fail(key, "an ISO-8601 timestamp such as 2026-11-26T17:00:00Z") from None
        return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


def parse_call(raw: Any, where: str, now: datetime) -> CallRecord:
    """Validate one call record; ``now`` stands in for a missing ``at``."""
    item = _Item(raw, where)
    version = item.raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise item._fail("version", "the version number the call used (an integer >= 1)")
    arm = item.raw.get("arm", "baseline")
    if arm not in ARMS:
        raise item._fail("arm", f"one of {list(ARMS)}")
    context = item.raw.get("context") or {}
    variables = item.raw.get("variables")
    if not isinstance(context, dict):
        raise item._fail("context", "an object of attributes")
    if variables is not None and not isinstance(variables, dict):
        raise item._fail("variables", "an object of variable values, or null")
    return CallRecord(
        id=str(
            item.text(
                "id",
                limit=MAX_ID,
                check=_is_id,
                what="a call id of 1-64 letters, digits, '-' or '_'",
            )
        ),
        at=item.timestamp("at", now),
        prompt=str(
            item.text("prompt", limit=128, check=PROMPT_NAME.fullmatch, what="a prompt name")
        ),
        label=str(item.text("label", limit=63, check=LABEL_NAME.fullmatch, what="a label name")),
        version=version,
        digest=str(
            item.text(
                "digest",
                limit=80,
                check=lambda d: d.startswith("sha256:"),
                what="the version digest 'sha256:<hex>'",
            )
        ),
        release_id=item.text("release_id", required=False, limit=MAX_ID),
        arm=arm,
        unit_hash=item.text("unit_hash", required=False, limit=80),
        context=context,
        variables=variables,
        output=item.raw.get("output"),
        model=item.text("model", required=False, limit=256),
        latency_ms=item.number("latency_ms"),
        tokens_in=item.number("tokens_in", integer=True),
        tokens_out=item.number("tokens_out", integer=True),
        cost=item.number("cost"),
        error=item.text("error", required=False),
        index=item.text(
            "index",
            required=False,
            limit=200,
            check=_INDEX_USED.fullmatch,
            what="the retrieval index the call queried, NAME@VERSION (e.g. kb@8), or null",
        ),
        tools=_tools_used(item),
    )


def _tools_used(item: _Item) -> tuple[str, ...] | None:
    value = item.raw.get("tools")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > 128
        or not all(isinstance(t, str) and 0 < len(t) <= 128 for t in value)
    ):
        raise item._fail("tools", "a list of at most 128 tool names the call offered, or null")
    return tuple(value)


def parse_score(raw: Any, where: str, now: datetime) -> Score:
    """Validate one score (``{call_id, name, value, source?, at?}``)."""
    item = _Item(raw, where)
    value = item.raw.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise item._fail("value", "a finite number (e.g. csat 1-5, thumbs_down 0/1)")
    source = item.raw.get("source", "user")
    if source not in SCORE_SOURCES:
        raise item._fail("source", f"one of {list(SCORE_SOURCES)}")
    return Score(
        call_id=str(
            item.text("call_id", limit=MAX_ID, check=_is_id, what="the id of a logged call")
        ),
        name=str(
            item.text(
                "name",
                limit=128,
                check=_is_metric,
                what="a metric name of letters, digits, '.', '_' or '-' (e.g. csat)",
            )
        ),
        value=float(value),
        source=source,
        at=item.timestamp("at", now),
    )


_ID = re.compile(r"[A-Za-z0-9_-]+")
_INDEX_USED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}@[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")


def _is_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def _is_metric(value: str) -> bool:
    return _METRIC.fullmatch(value) is not None
