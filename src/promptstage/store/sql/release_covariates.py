"""Pre-release history of a release's units: the covariate of the variance reduction.

For each unit of a release, its mean of each metric over its calls on the same prompt in the
:data:`HISTORY_DAYS` before the release started (any version, any label), joined to its values
during the release per step and arm. The sums per (step, arm, metric) are what
:func:`promptstage.rollout.analysis.cuped.adjust` needs: units with history, Σ X, Σ X², Σ X·Y
and Σ Y over those units. See :meth:`ReleasesRepository.releases_metrics`.

Those means do not change once the release has started, but reading them from ``calls`` costs
a scan of the prompt's 14 days of traffic, on every look. So the controller **takes** them once
(:func:`take`: one row per release, metric and unit in ``release_covariates``, and the time in
``releases.covariates_at``), and a look joins those rows instead. A release not taken yet
(the controller takes it in a job beside its passes, ``controller.take_histories``) is read
from ``calls``, with the same result. The rows of a release that is no longer active are
dropped (:func:`drop_ended`). A call made before the start but stored only after the take is
not in the covariate; it is still a value from before the release, so the adjustment stays
unbiased.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Connection,
    Float,
    Select,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    select,
    union_all,
    update,
)

from promptstage.domain.releases import ACTIVE, Release, ReleaseMetrics

from .tables import calls, release_covariates, releases, scores
from .uow_base import float_or_zero as _f
from .uow_base import utc

HISTORY_DAYS: Final = 14
"""How far back a unit's history is read (the same as the error budget's look-back)."""

_BUILTIN: Final = ("error_rate", "latency_ms", "cost")


def _raw(release: Release) -> tuple[Select[Any], Select[Any]]:
    """The units' history read from ``calls``: per unit ``x0, x1, x2`` (the builtin metrics),
    and per unit and score name ``x``."""
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
    )
    joined = calls.join(
        scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
    )
    hist_scores = (
        select(calls.c.unit_hash, scores.c.name, func.avg(scores.c.value).label("x"))
        .select_from(joined)
        .where(*before, scores.c.name.not_in(_BUILTIN))
        .group_by(calls.c.unit_hash, scores.c.name)
    )
    return hist, hist_scores


def _taken(release_id: str) -> tuple[Select[Any], Select[Any]]:
    """The same two reads from the rows :func:`take` stored."""
    c = release_covariates.c
    mine = c.release_id == release_id
    hist = (
        select(
            c.unit_hash,
            *(func.max(case((c.metric == m, c.x))).label(f"x{i}") for i, m in enumerate(_BUILTIN)),
        )
        .where(mine, c.metric.in_(_BUILTIN))
        .group_by(c.unit_hash)
    )
    hist_scores = select(c.unit_hash, c.metric.label("name"), c.x).where(
        mine, c.metric.not_in(_BUILTIN)
    )
    return hist, hist_scores


def taken(conn: Connection, release_ids: Collection[str]) -> set[str]:
    """The releases among ``release_ids`` whose units' history has been taken."""
    if not release_ids:
        return set()
    stmt = select(releases.c.id).where(
        releases.c.id.in_(sorted(release_ids)), releases.c.covariates_at.is_not(None)
    )
    return set(conn.execute(stmt).scalars())


def take(conn: Connection, release: Release, at: datetime) -> bool:
    """Store the units' history of a running or paused release, once.

    The rows are written first and the release is marked last, so its row is locked only for
    the end of the transaction (a pause or a rollback of the release never waits on the scan).
    Only the controller's leader takes; a second taker racing it fails on the primary key and
    leaves the first one's rows.

    Returns:
        False when the release was taken already or is no longer active.
    """
    if release.id in taken(conn, [release.id]):
        return False
    hist, hist_scores = _raw(release)
    h, hs = hist.cte("hist"), hist_scores.subquery("hist_scores")
    rid = literal(release.id)
    rows = union_all(
        *(
            select(rid, literal(metric), h.c.unit_hash, h.c[f"x{i}"]).where(
                h.c[f"x{i}"].is_not(None)
            )
            for i, metric in enumerate(_BUILTIN)
        ),
        select(rid, hs.c.name, hs.c.unit_hash, hs.c.x),
    )
    columns = ["release_id", "metric", "unit_hash", "x"]
    conn.execute(release_covariates.insert().from_select(columns, rows))
    marked = conn.execute(
        update(releases)
        .where(
            releases.c.id == release.id,
            releases.c.covariates_at.is_(None),
            releases.c.state.in_(sorted(ACTIVE)),
        )
        .values(covariates_at=utc(at))
    )
    if marked.rowcount != 1:  # ended meanwhile: nothing to keep
        conn.execute(
            delete(release_covariates).where(release_covariates.c.release_id == release.id)
        )
        return False
    return True


def drop_ended(conn: Connection) -> int:
    """Drop the units' history of the releases that are no longer active; returns how many."""
    ended = list(
        conn.execute(
            select(releases.c.id).where(
                releases.c.covariates_at.is_not(None), releases.c.state.not_in(sorted(ACTIVE))
            )
        ).scalars()
    )
    if ended:
        conn.execute(delete(release_covariates).where(release_covariates.c.release_id.in_(ended)))
        conn.execute(update(releases).where(releases.c.id.in_(ended)).values(covariates_at=None))
    return len(ended)


def add_history(
    conn: Connection,
    release: Release,
    unit_calls: Any,
    unit_scores: Any,
    out: ReleaseMetrics,
    *,
    from_taken: bool,
) -> None:
    """Fill ``out.history`` for one release from its units' calls before its start.

    Args:
        conn: The unit of work's connection.
        release: The release.
        unit_calls: Per (release, step, arm, unit) call sums (``_unit_calls`` of the store).
        unit_scores: Per (release, step, arm, unit, name) score sums (``_unit_scores``).
        out: Where to put the sums.
        from_taken: Read the history :func:`take` stored (else scan ``calls``).
    """
    unit_history, score_history = _taken(release.id) if from_taken else _raw(release)
    hist = unit_history.subquery("hist")
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
    hist_scores = score_history.subquery("hist_scores")
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
