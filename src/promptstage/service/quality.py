"""Quality per version and per label of one prompt over a period (the UI's quality page).

For each version and each label over the last ``days`` days (UTC), whole and per day: calls,
error rate, latency p50/p95/p99, tokens, cost and the mean of every score. The store does the
aggregation (``QualityRepo.quality_buckets``); this module shapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Final

from promptstage.domain.models import Role
from promptstage.domain.quality import GROUPINGS, Grouping, QualityBucket
from promptstage.errors import InvalidInputError

from .access import check
from .context import Context
from .keys import Principal
from .prompts import require_prompt

MAX_DAYS: Final = 90


@dataclass(frozen=True, slots=True)
class Figures:
    """What one version (or label) did in one period or day."""

    calls: int
    error_rate: float | None
    p50: float | None
    p95: float | None
    p99: float | None
    tokens_in: int
    tokens_out: int
    cost: float
    scores: dict[str, float] = field(default_factory=dict)
    score_counts: dict[str, int] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """A figure by name (``calls``, ``error_rate``, ``p95``, ... or a score name)."""
        if name in self.scores:
            return self.scores[name]
        value = getattr(self, name, None) if name in _FIELDS else None
        return None if value is None else float(value)


_FIELDS: Final = frozenset(
    {"calls", "error_rate", "p50", "p95", "p99", "tokens_in", "tokens_out", "cost"}
)


@dataclass(frozen=True, slots=True)
class Row:
    """One version or label: the whole period, and each day (``None``: no call that day)."""

    key: int | str
    period: Figures
    daily: list[Figures | None]


@dataclass(frozen=True, slots=True)
class Quality:
    """The quality page's data."""

    prompt: str
    days: list[str]
    since: datetime
    until: datetime
    versions: list[Row]
    labels: list[Row]
    score_names: list[str]


def parse_days(raw: Any) -> int:
    """``days`` of the quality page: an integer from 1 to 90.

    Raises:
        InvalidInputError: naming ``days``.
    """
    try:
        days = int(raw)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= MAX_DAYS or str(raw).strip() != str(days):
        raise InvalidInputError(
            f"days must be a whole number of days from 1 to {MAX_DAYS}, e.g. 7", field="days"
        )
    return days


def _figures(b: QualityBucket) -> Figures:
    return Figures(
        calls=b.calls,
        error_rate=b.errors / b.calls if b.calls else None,
        p50=b.latency.get(50),
        p95=b.latency.get(95),
        p99=b.latency.get(99),
        tokens_in=b.tokens_in,
        tokens_out=b.tokens_out,
        cost=b.cost,
        scores={name: s.mean for name, s in b.scores.items()},
        score_counts={name: s.count for name, s in b.scores.items()},
    )


def _rows(daily: list[QualityBucket], whole: list[QualityBucket], days: int) -> list[Row]:
    by_key: dict[Any, list[Figures | None]] = {}
    for b in daily:
        by_key.setdefault(b.key, [None] * days)[b.bucket] = _figures(b)
    rows = [Row(b.key, _figures(b), by_key.get(b.key, [None] * days)) for b in whole]
    if rows and isinstance(rows[0].key, int):
        return sorted(rows, key=lambda r: -int(r.key))
    return sorted(rows, key=lambda r: str(r.key))


def prompt_quality(ctx: Context, who: Principal, project: str, prompt: str, days: int) -> Quality:
    """Per version and per label of ``prompt``: the last ``days`` whole UTC days up to the end
    of today, whole and per day.

    Raises:
        PermissionDeniedError: ``who`` has no role in ``project``.
        NotFoundError: the prompt does not exist.
        InvalidInputError: ``days`` is out of range.
    """
    check(who, project, Role.editor)
    days = parse_days(days)
    now = ctx.clock()
    until = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=now.tzinfo)
    bounds = [until - timedelta(days=days - i) for i in range(days + 1)]
    found: dict[Grouping, tuple[list[QualityBucket], list[QualityBucket]]] = {}
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        for group in GROUPINGS:
            found[group] = (
                uow.quality_buckets(project, prompt, group, bounds),
                uow.quality_buckets(project, prompt, group, [bounds[0], bounds[-1]]),
            )
    names = sorted({n for b in found["version"][1] for n in b.scores})
    return Quality(
        prompt=prompt,
        days=[b.strftime("%Y-%m-%d") for b in bounds[:-1]],
        since=bounds[0],
        until=until,
        versions=_rows(*found["version"], days),
        labels=_rows(*found["label"], days),
        score_names=names,
    )
