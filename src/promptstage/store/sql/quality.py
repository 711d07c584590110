"""Quality aggregates of the call log, per version or label and per time bucket.

Portable SQL only (SQLite and Postgres): time buckets are a ``CASE`` over bounds computed by
the caller, and latency percentiles are nearest-rank, picked with ``ROW_NUMBER()`` and
``COUNT()`` windows in integer arithmetic, so the database returns at most three latencies per
group instead of every latency of the period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select

from promptstage.domain.quality import PERCENTILES, Grouping, QualityBucket, ScoreSums

from .tables import calls, scores
from .uow_base import UnitOfWorkBase, utc


class QualityRepository(UnitOfWorkBase):
    """Read-only aggregates over ``calls`` and ``scores`` for the quality page."""

    def quality_buckets(
        self, project: str, prompt: str, group: Grouping, bounds: Sequence[datetime]
    ) -> list[QualityBucket]:
        """Aggregates of ``prompt``'s calls with ``bounds[0] <= at < bounds[-1]``, per ``group``
        (version or label) and per bucket ``bounds[i] <= at < bounds[i + 1]``."""
        if len(bounds) < 2:
            return []
        key = calls.c.version if group == "version" else calls.c.label
        whens = [(calls.c.at < utc(b), i) for i, b in enumerate(bounds[1:-1])]
        bucket = case(*whens, else_=len(bounds) - 2) if whens else literal_column("0")
        period = (
            select(
                key.label("key"),
                bucket.label("bucket"),
                calls.c.id,
                calls.c.error,
                calls.c.latency_ms,
                calls.c.tokens_in,
                calls.c.tokens_out,
                calls.c.cost,
            )
            .where(
                calls.c.project == project,
                calls.c.prompt == prompt,
                calls.c.at >= utc(bounds[0]),
                calls.c.at < utc(bounds[-1]),
            )
            .subquery("period")
        )
        found: dict[tuple[Any, int], dict[str, Any]] = {}
        totals = select(
            period.c.key,
            period.c.bucket,
            func.count().label("calls"),
            func.count(period.c.error).label("errors"),
            func.coalesce(func.sum(period.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(period.c.tokens_out), 0).label("tokens_out"),
            func.coalesce(func.sum(period.c.cost), 0.0).label("cost"),
        ).group_by(period.c.key, period.c.bucket)
        for row in self._conn.execute(totals):
            found[(row.key, int(row.bucket))] = {
                "calls": int(row.calls),
                "errors": int(row.errors),
                "tokens_in": int(row.tokens_in),
                "tokens_out": int(row.tokens_out),
                "cost": float(row.cost),
                "latency": {},
                "scores": {},
            }
        for cell, p, value in self._percentiles(period):
            found[cell]["latency"][p] = value
        joined = period.join(
            scores, and_(scores.c.project == project, scores.c.call_id == period.c.id)
        )
        score_rows = (
            select(
                period.c.key,
                period.c.bucket,
                scores.c.name,
                func.count(scores.c.value).label("n"),
                func.sum(scores.c.value).label("total"),
            )
            .select_from(joined)
            .group_by(period.c.key, period.c.bucket, scores.c.name)
        )
        for row in self._conn.execute(score_rows):
            entry = found.get((row.key, int(row.bucket)))
            if entry is not None:
                entry["scores"][row.name] = ScoreSums(int(row.n), float(row.total or 0.0))
        ordered = sorted(found.items(), key=lambda item: (str(item[0][0]), item[0][1]))
        return [QualityBucket(key=k, bucket=b, **values) for (k, b), values in ordered]

    def _percentiles(self, period: Any) -> list[tuple[tuple[Any, int], int, float]]:
        cell = (period.c.key, period.c.bucket)
        ranked = (
            select(
                period.c.key,
                period.c.bucket,
                period.c.latency_ms.label("latency"),
                func.row_number().over(partition_by=cell, order_by=period.c.latency_ms).label("rn"),
                func.count().over(partition_by=cell).label("n"),
            )
            .where(period.c.latency_ms.is_not(None))
            .subquery("ranked")
        )
        # Nearest rank: the smallest rn with rn / n >= p / 100, in integers.
        picks = [
            and_(ranked.c.rn * 100 >= p * ranked.c.n, (ranked.c.rn - 1) * 100 < p * ranked.c.n)
            for p in PERCENTILES
        ]
        stmt = select(
            ranked.c.key, ranked.c.bucket, ranked.c.rn, ranked.c.n, ranked.c.latency
        ).where(or_(*picks))
        out: list[tuple[tuple[Any, int], int, float]] = []
        for row in self._conn.execute(stmt):
            rn, n = int(row.rn), int(row.n)
            for p in PERCENTILES:
                if rn * 100 >= p * n and (rn - 1) * 100 < p * n:
                    out.append(((row.key, int(row.bucket)), p, float(row.latency)))
        return out

    def score_names(self, project: str, prompt: str, since: datetime) -> list[str]:
        """The score names attached to ``prompt``'s calls made at or after ``since``."""
        joined = calls.join(
            scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
        )
        stmt = (
            select(scores.c.name)
            .select_from(joined)
            .where(calls.c.project == project, calls.c.prompt == prompt, calls.c.at >= utc(since))
            .distinct()
            .order_by(scores.c.name)
            .limit(100)
        )
        return [str(name) for name in self._conn.execute(stmt).scalars()]
