"""Pre-release history of a release's units: the covariate of the variance reduction.

For each unit of a release, its mean of each metric over its calls on the same prompt in the
:data:`HISTORY_DAYS` before the release started (any version, any label), joined to its values
during the release per step and arm. The sums per (step, arm, metric) are what
:func:`promptstage.rollout.analysis.cuped.adjust` needs: units with history, Σ X, Σ X², Σ X·Y
and Σ Y over those units. See :meth:`ReleasesRepository.releases_metrics`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Connection, Float, and_, case, cast, func, select

from promptstage.domain.releases import Release, ReleaseMetrics

from .tables import calls, scores
from .uow_base import utc

HISTORY_DAYS: Final = 14
"""How far back a unit's history is read (the same as the error budget's look-back)."""

_BUILTIN: Final = ("error_rate", "latency_ms", "cost")


def _f(value: Any) -> float:
    return float(value) if value is not None else 0.0


def add_history(
    conn: Connection,
    release: Release,
    where: tuple[Any, ...],
    unit_calls: Any,
    unit_scores: Any,
    out: ReleaseMetrics,
) -> None:
    """Fill ``out.history`` for one release from its units' calls before its start.

    Args:
        conn: The unit of work's connection.
        release: The release.
        where: The release's call filter (as the other aggregates use).
        unit_calls: Per (release, step, arm, unit) call sums (``_unit_calls`` of the store).
        unit_scores: Per (release, step, arm, unit, name) score sums (``_unit_scores``).
        out: Where to put the sums.
    """
    start = utc(release.created_at)
    before = (
        calls.c.project == release.project,
        calls.c.prompt == release.prompt,
        calls.c.at >= start - timedelta(days=HISTORY_DAYS),
        calls.c.at < start,
        calls.c.unit_hash.is_not(None),
    )
    errored = cast(case((calls.c.error.is_(None), 0), else_=1), Float)
    hist = (
        select(
            calls.c.unit_hash,
            func.avg(errored).label("x0"),
            func.avg(calls.c.latency_ms).label("x1"),
            func.avg(calls.c.cost).label("x2"),
        )
        .where(*before)
        .group_by(calls.c.unit_hash)
        .subquery("hist")
    )
    u = unit_calls.subquery("u_hist")
    ys = (
        u.c.errors.op("/")(u.c.n),
        u.c.lat.op("/")(func.nullif(u.c.n_lat, 0.0)),
        u.c.cost.op("/")(func.nullif(u.c.n_cost, 0.0)),
    )
    columns: list[Any] = []
    for i, y in enumerate(ys):
        x = getattr(hist.c, f"x{i}")
        both = and_(x.is_not(None), y.is_not(None))
        columns += [
            func.sum(case((both, 1), else_=0)),
            func.sum(case((both, x))),
            func.sum(case((both, x * x))),
            func.sum(case((both, x * y))),
            func.sum(case((both, y))),
        ]
    stmt = (
        select(u.c.step, u.c.arm, *columns)
        .select_from(u.join(hist, hist.c.unit_hash == u.c.unit_hash))
        .where(u.c.release_id == release.id)
        .group_by(u.c.step, u.c.arm)
    )
    for row in conn.execute(stmt):
        for i, metric in enumerate(_BUILTIN):
            n_x, x, x_sq, xy, y_with = row[2 + 5 * i : 7 + 5 * i]
            if n_x:
                out.history.setdefault(metric, {}).setdefault(int(row[0]), {})[row[1]] = (
                    int(n_x),
                    _f(x),
                    _f(x_sq),
                    _f(xy),
                    _f(y_with),
                )
    joined = calls.join(
        scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
    )
    hist_scores = (
        select(calls.c.unit_hash, scores.c.name, func.avg(scores.c.value).label("x"))
        .select_from(joined)
        .where(*before)
        .group_by(calls.c.unit_hash, scores.c.name)
        .subquery("hist_scores")
    )
    s = unit_scores.subquery("s_hist")
    y = s.c.total.op("/")(s.c.n)
    x = hist_scores.c.x
    stmt = (
        select(
            s.c.step,
            s.c.arm,
            s.c.name,
            func.count(),
            func.sum(x),
            func.sum(x * x),
            func.sum(x * y),
            func.sum(y),
        )
        .select_from(
            s.join(
                hist_scores,
                and_(hist_scores.c.unit_hash == s.c.unit_hash, hist_scores.c.name == s.c.name),
            )
        )
        .where(s.c.release_id == release.id)
        .group_by(s.c.step, s.c.arm, s.c.name)
    )
    for step, arm, name, n_x, x_sum, x_sq, xy, y_with in conn.execute(stmt):
        if name in _BUILTIN or not n_x:
            continue
        out.history.setdefault(name, {}).setdefault(int(step), {})[arm] = (
            int(n_x),
            _f(x_sum),
            _f(x_sq),
            _f(xy),
            _f(y_with),
        )
