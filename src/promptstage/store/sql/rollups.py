"""Where the controller's per-unit sums come from: the per-minute rollups, or the raw calls.

``call_rollups`` holds, per (project, release, arm, unit, UTC minute), the sums of the
unit-keyed calls of a release (count, errors, latency and cost counts, sums and sums of
squares), added on ingest in the same transaction as the calls (``ingest.py``), so a late or
retried record lands in its own minute exactly once. A look reads these rows instead of every
call, so its cost follows the units and minutes of the release, not the calls.

What a minute cannot tell is handled from the raw calls, exactly:

- a ramp step begins at an ``advance`` time that is not on a minute: the minute holding an
  advance is read from ``calls`` (every other minute lies wholly in one step);
- the fast path's window ``(since, until]`` starts and ends inside minutes: its partial
  minutes at both ends are read from ``calls``.

Scores are not rolled up (a score may arrive before or long after its call): score metrics
are still aggregated from the raw tables. The units' pre-release history is read from the raw
tables once per release, when the controller takes it (``release_covariates.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    distinct,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)

from promptstage.store.base import MetricsSource

from .ingest import minute_of
from .tables import call_rollups, calls
from .uow_base import utc

Source = MetricsSource
"""Where :class:`CallSums` reads: the rollups (the controller) or the raw calls (the check)."""

MINUTE = timedelta(minutes=1)
SRM_ARMS = ("canary", "control")


_REBUILD = """
INSERT INTO call_rollups (project, release_id, arm, unit_hash, minute, n, errors, n_lat, lat,
                          lat_sq, n_cost, cost, cost_sq)
SELECT project, release_id, arm, unit_hash, {minute}, count(*), count(error), count(latency_ms),
       coalesce(sum(latency_ms), 0), coalesce(sum({lat_sq}), 0), count(cost),
       coalesce(sum(cost), 0), coalesce(sum({cost_sq}), 0)
FROM calls
WHERE release_id IS NOT NULL AND unit_hash IS NOT NULL
GROUP BY project, release_id, arm, unit_hash, {minute}
"""


def rebuild_rollups(conn: Connection) -> None:
    """Recompute ``call_rollups`` from every stored call (after a bulk load that bypassed
    ingest, or to repair them); run it in a transaction of its own."""
    if conn.dialect.name == "postgresql":
        minute = "date_trunc('minute', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        square = "(CASE WHEN abs({0}) < 1e-150 THEN 0 ELSE {0} * {0} END)"
    else:  # SQLite stores naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'
        minute = "substr(at, 1, 17) || '00.000000'"
        square = "({0} * {0})"
    conn.exec_driver_sql("DELETE FROM call_rollups")
    conn.exec_driver_sql(
        _REBUILD.format(
            minute=minute, lat_sq=square.format("latency_ms"), cost_sq=square.format("cost")
        )
    )


def errored() -> Any:
    """1.0 for a call with an error, else 0.0."""
    return cast(case((calls.c.error.is_(None), 0), else_=1), Float)


def unit_calls(where: Sequence[Any], step: Any) -> Select[Any]:
    """Per (release, step, arm, unit) from the raw calls: call count, errors, and latency and
    cost counts and sums."""
    return (
        select(
            calls.c.release_id,
            step,
            calls.c.arm,
            calls.c.unit_hash,
            cast(func.count(), Float).label("n"),
            func.sum(errored()).label("errors"),
            cast(func.count(calls.c.latency_ms), Float).label("n_lat"),
            func.sum(calls.c.latency_ms).label("lat"),
            cast(func.count(calls.c.cost), Float).label("n_cost"),
            func.sum(calls.c.cost).label("cost"),
        )
        .where(*where)
        .group_by(calls.c.release_id, step, calls.c.arm, calls.c.unit_hash)
    )


@dataclass(frozen=True)
class CallSums:
    """The controller's call filter for a set of releases, over rollups or raw calls.

    Attributes:
        project: The project.
        ids: The releases read.
        narrow: Releases whose ``baseline`` arm is not compared (targeting rules).
        advances: ``(release id, step index, at)`` of every ``advance``, newest first.
        source: ``rollups`` or ``calls``.
    """

    project: str
    ids: tuple[str, ...]
    narrow: tuple[str, ...]
    advances: tuple[tuple[str, int, datetime], ...]
    source: Source = "rollups"

    def where(self, t: Any, ids: Sequence[str] | None = None) -> tuple[Any, ...]:
        """The filter on ``t`` (``calls.c`` or ``call_rollups.c``)."""
        out: tuple[Any, ...] = (
            t.project == self.project,
            t.release_id.in_(list(ids if ids is not None else self.ids)),
            t.arm.in_((*SRM_ARMS, "baseline")),
            t.unit_hash.is_not(None),
        )
        if self.narrow:  # releases with targeting rules: their baseline arm is not compared
            out += (or_(t.arm != "baseline", t.release_id.not_in(list(self.narrow))),)
        return out

    def step(self, release_id: Any, at: Any) -> Any:
        """SQL for the ramp step of a call made at ``at``: 0, or that of the last advance."""
        whens = [(and_(release_id == rid, at >= when), index) for rid, index, when in self.advances]
        return (case(*whens, else_=0) if whens else literal(0)).label("step")

    @property
    def raw_step(self) -> Any:
        """:meth:`step` over the raw calls."""
        return self.step(calls.c.release_id, calls.c.at)

    def unit_calls(self, ids: Sequence[str] | None = None) -> Select[Any]:
        """Per (release, step, arm, unit) sums (the columns of :func:`unit_calls`)."""
        raw_where = self.where(calls.c, ids)
        if self.source == "calls":
            return unit_calls(raw_where, self.raw_step)
        r = call_rollups.c
        edges = {(rid, minute_of(utc(when))) for rid, _, when in self.advances}
        on_edge = or_(false(), *(and_(r.release_id == rid, r.minute == m) for rid, m in edges))
        parts: list[Any] = [
            select(
                r.release_id,
                self.step(r.release_id, r.minute),
                r.arm,
                r.unit_hash,
                cast(r.n, Float).label("n"),
                cast(r.errors, Float).label("errors"),
                cast(r.n_lat, Float).label("n_lat"),
                r.lat.label("lat"),
                cast(r.n_cost, Float).label("n_cost"),
                r.cost.label("cost"),
            ).where(*self.where(r, ids), not_(on_edge))
        ]
        if edges:
            in_edge = or_(
                *(
                    and_(calls.c.release_id == rid, calls.c.at >= m, calls.c.at < m + MINUTE)
                    for rid, m in edges
                )
            )
            parts.append(unit_calls((*raw_where, in_edge), self.raw_step))
        u = union_all(*parts).subquery("rolled").c
        return select(
            u.release_id,
            u.step,
            u.arm,
            u.unit_hash,
            func.sum(u.n).label("n"),
            func.sum(u.errors).label("errors"),
            func.sum(u.n_lat).label("n_lat"),
            func.sum(u.lat).label("lat"),
            func.sum(u.n_cost).label("n_cost"),
            func.sum(u.cost).label("cost"),
        ).group_by(u.release_id, u.step, u.arm, u.unit_hash)

    def units_per_arm(self, ids: Sequence[str]) -> Select[Any]:
        """``(release, arm, distinct units)`` over the sample-ratio arms."""
        t = calls.c if self.source == "calls" else call_rollups.c
        return (
            select(t.release_id, t.arm, func.count(distinct(t.unit_hash)))
            .where(*self.where(t, ids), t.arm.in_(SRM_ARMS))
            .group_by(t.release_id, t.arm)
        )

    def units_per_metric(self, ids: Sequence[str]) -> Select[Any]:
        """``(release, side, units, units with latency, units with cost)``, distinct."""
        t = calls.c if self.source == "calls" else call_rollups.c
        has_lat: Any
        has_cost: Any
        if self.source == "calls":
            has_lat, has_cost = t.latency_ms.is_not(None), t.cost.is_not(None)
        else:
            has_lat, has_cost = t.n_lat > 0, t.n_cost > 0
        side = case((t.arm == "canary", "canary"), else_="control").label("side")
        unit = t.unit_hash
        return (
            select(
                t.release_id,
                side,
                func.count(distinct(unit)),
                func.count(distinct(case((has_lat, unit)))),
                func.count(distinct(case((has_cost, unit)))),
            )
            .where(*self.where(t, ids))
            .group_by(t.release_id, side)
        )

    def window_calls(self, windows: Mapping[str, tuple[datetime, datetime]]) -> Select[Any]:
        """Per (release, side): calls, errors, and latency and cost count, Σ and Σ² over each
        release's ``(since, until]``."""
        c = calls.c
        wins = {rid: (utc(a), utc(b)) for rid, (a, b) in windows.items() if rid in self.ids}
        if self.source == "calls":
            raw_in = [
                and_(c.release_id == rid, c.at > a, c.at <= b) for rid, (a, b) in wins.items()
            ]
            return _window_select(_raw_window(self.where(c), or_(false(), *raw_in)))
        r = call_rollups.c
        rolled, raw = [], []
        for rid, (a, b) in wins.items():
            lo, hi = minute_of(a) + MINUTE, minute_of(b)  # the whole minutes inside (a, b]
            if hi > lo:
                rolled.append(and_(r.release_id == rid, r.minute >= lo, r.minute < hi))
                inside = or_(c.at < lo, c.at >= hi)
                raw.append(and_(c.release_id == rid, c.at > a, c.at <= b, inside))
            else:
                raw.append(and_(c.release_id == rid, c.at > a, c.at <= b))
        parts: list[Any] = [_raw_window(self.where(c), or_(false(), *raw))]
        if rolled:
            parts.append(
                select(
                    r.release_id,
                    r.arm,
                    cast(r.n, Float).label("n"),
                    cast(r.errors, Float).label("errors"),
                    cast(r.n_lat, Float).label("n_lat"),
                    r.lat.label("lat"),
                    r.lat_sq.label("lat_sq"),
                    cast(r.n_cost, Float).label("n_cost"),
                    r.cost.label("cost"),
                    r.cost_sq.label("cost_sq"),
                ).where(*self.where(r), or_(*rolled))
            )
        return _window_select(union_all(*parts))


def _raw_window(where: tuple[Any, ...], within: Any) -> Select[Any]:
    c = calls.c
    one = literal(1.0, Float)
    zero = literal(0.0, Float)
    return select(
        c.release_id,
        c.arm,
        one.label("n"),
        errored().label("errors"),
        case((c.latency_ms.is_(None), zero), else_=one).label("n_lat"),
        c.latency_ms.label("lat"),
        (c.latency_ms * c.latency_ms).label("lat_sq"),
        case((c.cost.is_(None), zero), else_=one).label("n_cost"),
        c.cost.label("cost"),
        (c.cost * c.cost).label("cost_sq"),
    ).where(*where, within)


def _window_select(rows: Any) -> Select[Any]:
    w = rows.subquery("win").c
    side = case((w.arm == "canary", "canary"), else_="control").label("side")
    return select(
        w.release_id,
        side,
        func.sum(w.n),
        func.sum(w.errors),
        func.sum(w.n_lat),
        func.sum(w.lat),
        func.sum(w.lat_sq),
        func.sum(w.n_cost),
        func.sum(w.cost),
        func.sum(w.cost_sq),
    ).group_by(w.release_id, side)
