"""Releases, their history and looks, and the per-arm metrics the controller reads.

The metrics are aggregated in SQL in two passes (per unit, then per ramp step and arm), so a
look reads a handful of rows per release however many calls were logged: see
:meth:`ReleasesRepository.releases_metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, and_, case, cast, distinct, func, literal, or_, select, update

from promptstage.domain.releases import (
    ArmSums,
    Release,
    ReleaseChange,
    ReleaseLook,
    ReleaseMetrics,
    ReleaseStep,
    SharedUnits,
    compared_arms,
)
from promptstage.errors import NotFoundError

from . import release_covariates as covariates
from .planner import planner_settings
from .rollups import CallSums, Source
from .tables import calls, release_history, release_looks, releases, scores
from .uow_base import UnitOfWorkBase, utc
from .uow_base import float_or_zero as _f

SRM_ARMS = ("canary", "control")
"""The equal-size arms whose unit counts the sample-ratio check compares."""
BUILTIN_METRICS_ORDER = ("error_rate", "latency_ms", "cost")
"""The built-in metrics in the order :func:`_unit_means` returns them."""
BUILTIN_METRICS = frozenset(BUILTIN_METRICS_ORDER)
_ACTIVE = ("running", "paused")


def _active_label(r: Release) -> str | None:
    return f"{r.prompt}/{r.label}" if r.state in _ACTIVE else None


def _row(r: Release) -> dict[str, Any]:
    return {
        "id": r.id,
        "project": r.project,
        "prompt": r.prompt,
        "label": r.label,
        "baseline_version": r.baseline_version,
        "candidate_version": r.candidate_version,
        "strategy": r.strategy,
        "steps": [s.to_dict() for s in r.steps],
        "step_index": r.step_index,
        "weight_bps": r.weight_bps,
        "state": r.state,
        "salt": r.salt,
        "hash_version": r.hash_version,
        "unit_attribute": r.unit_attribute,
        "targeting": r.targeting,
        "guardrails": list(r.guardrails) if r.guardrails is not None else None,
        "auto_rollback": r.auto_rollback,
        "flags": list(r.flags),
        "reason": r.reason,
        "created_by": r.created_by,
        "created_at": utc(r.created_at),
        "updated_at": utc(r.updated_at),
        "step_started_at": utc(r.step_started_at),
        "ended_at": utc(r.ended_at) if r.ended_at else None,
        "active_label": _active_label(r),
        "on_insufficient_data": r.on_insufficient_data,
        "on_drift": r.on_drift,
        "error_budget": r.error_budget,
    }


def _to_release(row: Any) -> Release:
    return Release(
        id=row.id,
        project=row.project,
        prompt=row.prompt,
        label=row.label,
        baseline_version=row.baseline_version,
        candidate_version=row.candidate_version,
        strategy=row.strategy,
        steps=tuple(
            ReleaseStep(s["weight_bps"], float(s["min_duration_seconds"]), s["min_units"])
            for s in row.steps
        ),
        step_index=row.step_index,
        weight_bps=row.weight_bps,
        state=row.state,
        salt=row.salt,
        hash_version=row.hash_version,
        unit_attribute=row.unit_attribute,
        targeting=row.targeting,
        guardrails=tuple(row.guardrails) if row.guardrails is not None else None,
        auto_rollback=bool(row.auto_rollback),
        flags=tuple(row.flags),
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        step_started_at=row.step_started_at,
        ended_at=row.ended_at,
        on_insufficient_data=row.on_insufficient_data,
        on_drift=row.on_drift,
        error_budget=row.error_budget,
    )


def _to_look(row: Any) -> ReleaseLook:
    return ReleaseLook(
        release_id=row.release_id,
        at=row.at,
        step_index=row.step_index,
        weight_bps=row.weight_bps,
        decision=row.decision,
        action=row.action,
        reason=row.reason,
        data=row.data,
        id=row.id,
    )


class ReleasesRepository(UnitOfWorkBase):
    """Releases and what the controller records about them."""

    # the controller's clock ---------------------------------------------------------------
    def database_now(self) -> datetime:
        """The database server's wall clock, in UTC (Postgres ``clock_timestamp()``).

        SQLite runs inside this process, so its ``'now'`` is the host's clock; read through
        SQLite all the same, with millisecond precision, so both backends take one path.
        """
        if self._conn.dialect.name == "postgresql":
            found = self._conn.execute(select(func.clock_timestamp())).scalar_one()
            return utc(found)
        text = self._conn.execute(
            select(func.strftime("%Y-%m-%d %H:%M:%f", literal("now")))
        ).scalar_one()
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    # releases -----------------------------------------------------------------------------
    def add_release(self, release: Release) -> None:
        """Insert a release; ``ConflictError`` when its label already has an active release."""
        self._require_write("add_release")
        self._insert(
            releases.insert().values(_row(release)),
            conflict=(
                f"label {release.label!r} of prompt {release.prompt!r} already has an active "
                "release; promote, roll back or abort it first"
            ),
        )

    def update_release(self, release: Release) -> None:
        """Write a release's new state (it must exist)."""
        self._require_write("update_release")
        values = _row(release)
        del values["id"], values["project"]
        stmt = (
            update(releases)
            .where(releases.c.project == release.project, releases.c.id == release.id)
            .values(values)
        )
        if self._conn.execute(stmt).rowcount == 0:
            raise NotFoundError(f"no release {release.id!r} in project {release.project!r}")

    def get_release(self, project: str, release_id: str) -> Release | None:
        """One release, or ``None``."""
        stmt = select(releases).where(releases.c.project == project, releases.c.id == release_id)
        row = self._conn.execute(stmt).first()
        return None if row is None else _to_release(row)

    def active_release(self, project: str, prompt: str, label: str) -> Release | None:
        """The running or paused release of ``(prompt, label)``, or ``None``."""
        stmt = select(releases).where(
            releases.c.project == project, releases.c.active_label == f"{prompt}/{label}"
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else _to_release(row)

    def active_releases(self, project: str, prompt: str | None = None) -> list[Release]:
        """Every running or paused release of the project (or of one prompt)."""
        stmt = select(releases).where(releases.c.project == project, releases.c.state.in_(_ACTIVE))
        if prompt is not None:
            stmt = stmt.where(releases.c.prompt == prompt)
        stmt = stmt.order_by(releases.c.prompt, releases.c.label)
        return [_to_release(row) for row in self._conn.execute(stmt)]

    def running_releases(self) -> list[Release]:
        """Every running release of every project, oldest first (the controller's work list)."""
        stmt = (
            select(releases)
            .where(releases.c.state == "running")
            .order_by(releases.c.created_at, releases.c.id)
        )
        return [_to_release(row) for row in self._conn.execute(stmt)]

    def list_releases(
        self,
        project: str,
        *,
        state: str | None,
        prompt: str | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Release]:
        """Releases newest first, filtered, starting below the ``(created_at, id)`` ``before``."""
        conditions = [releases.c.project == project]
        if state is not None:
            conditions.append(releases.c.state == state)
        if prompt is not None:
            conditions.append(releases.c.prompt == prompt)
        if before is not None:
            at, rid = utc(before[0]), before[1]
            conditions.append(
                or_(
                    releases.c.created_at < at,
                    and_(releases.c.created_at == at, releases.c.id < rid),
                )
            )
        stmt = (
            select(releases)
            .where(*conditions)
            .order_by(releases.c.created_at.desc(), releases.c.id.desc())
            .limit(limit)
        )
        return [_to_release(row) for row in self._conn.execute(stmt)]

    # history and looks --------------------------------------------------------------------
    def add_release_change(self, change: ReleaseChange) -> None:
        """Append one entry to a release's history."""
        self._require_write("add_release_change")
        self._conn.execute(
            release_history.insert().values(
                release_id=change.release_id,
                at=utc(change.at),
                actor=change.actor,
                action=change.action,
                from_state=change.from_state,
                to_state=change.to_state,
                step_index=change.step_index,
                weight_bps=change.weight_bps,
                reason=change.reason,
            )
        )

    def release_history(self, release_id: str) -> list[ReleaseChange]:
        """A release's history, oldest first."""
        stmt = (
            select(release_history)
            .where(release_history.c.release_id == release_id)
            .order_by(release_history.c.id)
        )
        return [
            ReleaseChange(
                r.release_id,
                r.at,
                r.actor,
                r.action,
                r.from_state,
                r.to_state,
                r.step_index,
                r.weight_bps,
                r.reason,
            )
            for r in self._conn.execute(stmt)
        ]

    def add_look(self, look: ReleaseLook) -> ReleaseLook:
        """Store one look of the controller; returns it with its id."""
        self._require_write("add_look")
        result = self._conn.execute(
            release_looks.insert()
            .values(
                release_id=look.release_id,
                at=utc(look.at),
                step_index=look.step_index,
                weight_bps=look.weight_bps,
                decision=look.decision,
                action=look.action,
                reason=look.reason,
                data=look.data,
            )
            .returning(release_looks.c.id)
        )
        new_id = int(result.scalar_one())
        return ReleaseLook(
            look.release_id,
            look.at,
            look.step_index,
            look.weight_bps,
            look.decision,
            look.action,
            look.reason,
            look.data,
            new_id,
        )

    def list_looks(self, release_id: str, *, limit: int, before: int | None) -> list[ReleaseLook]:
        """Looks newest first, starting below id ``before``."""
        stmt = select(release_looks).where(release_looks.c.release_id == release_id)
        if before is not None:
            stmt = stmt.where(release_looks.c.id < before)
        stmt = stmt.order_by(release_looks.c.id.desc()).limit(limit)
        return [_to_look(row) for row in self._conn.execute(stmt)]

    # metrics ------------------------------------------------------------------------------
    def covariates_taken(self, release_ids: Sequence[str]) -> set[str]:
        """The releases among ``release_ids`` whose units' history has been taken."""
        return covariates.taken(self._conn, release_ids)

    def take_covariates(self, release: Release, at: datetime) -> bool:
        """Store the units' pre-release history of ``release`` once (``release_covariates.py``);
        False when it was taken already or the release has ended."""
        with self._metrics_planner():  # the same aggregates as a look's, planned the same way
            return covariates.take(self._conn, release, at)

    def drop_ended_covariates(self) -> int:
        """Drop the stored history of the releases no longer active; returns how many."""
        return covariates.drop_ended(self._conn)

    def score_names_before(
        self, project: str, prompt: str, version: int, since: datetime, until: datetime
    ) -> list[str]:
        """Score names logged on ``version`` of ``prompt`` by calls made in ``[since, until)``.

        What a release started without guardrails budgets for (sorted, at most 100).
        """
        joined = calls.join(
            scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
        )
        stmt = (
            select(scores.c.name)
            .distinct()
            .select_from(joined)
            .where(
                calls.c.project == project,
                calls.c.prompt == prompt,
                calls.c.version == version,
                calls.c.at >= utc(since),
                calls.c.at < utc(until),
            )
            .order_by(scores.c.name)
            .limit(100)
        )
        return [str(name) for name in self._conn.execute(stmt).scalars()]

    def release_metrics(
        self, release: Release, window: tuple[datetime, datetime] | None = None
    ) -> ReleaseMetrics:
        """Per-step, per-arm sums of one release's metrics (see :meth:`releases_metrics`)."""
        windows = {release.id: window} if window is not None else None
        return self.releases_metrics(release.project, [release], windows)[release.id]

    def releases_metrics(
        self,
        project: str,
        releases: Sequence[Release],
        windows: Mapping[str, tuple[datetime, datetime]] | None = None,
        *,
        source: Source = "rollups",
    ) -> dict[str, ReleaseMetrics]:
        """Per-step, per-arm, per-unit sums of ``error_rate``, ``latency_ms``, ``cost`` and every score.

        Only unit-keyed calls of the canary and of :func:`compared_arms` count. A call belongs
        to the ramp step the release was at when it was made (its ``at`` against the times of
        the release's ``advance`` entries). Each unit contributes the mean of its calls' values
        per metric and step; per step and arm the store returns the number of units with a
        value, the sum and the sum of squares of those means, and the per-call count and sum
        for the fast path. For a release past its first step it also returns, per pair of
        (step, arm) cells, the sums over the units seen in both (:class:`SharedUnits`), and the
        distinct units per arm. All the releases are aggregated in the same statements, so a
        controller pass reads the project's calls and scores once, not per release.

        ``windows`` maps a release id to ``(since, until)``: the per-call sums of each metric on
        the canary and on the compared arms over the calls made in ``(since, until]`` (the fast
        path's window, :attr:`ReleaseMetrics.window`).

        ``source`` says where the calls' sums come from: the per-minute rollups (what the
        controller reads, ``store/sql/rollups.py``) or a scan of the raw calls (the check the
        tests and the benchmark compare it with). Scores are read from the raw tables either
        way.
        """
        out = {r.id: ReleaseMetrics(window_read=r.id in (windows or {})) for r in releases}
        if not out:
            return out
        with self._metrics_planner():
            self._read_metrics(project, releases, out, windows, source)
        return out

    def _read_metrics(
        self,
        project: str,
        releases: Sequence[Release],
        out: dict[str, ReleaseMetrics],
        windows: Mapping[str, tuple[datetime, datetime]] | None,
        source: Source,
    ) -> None:
        narrow = [r.id for r in releases if "baseline" not in compared_arms(r)]
        sums = CallSums(project, tuple(out), tuple(narrow), self._advances(list(out)), source)
        where = sums.where(calls.c)
        step = sums.raw_step
        u = sums.unit_calls().subquery("u").c
        err, lat, cost = _unit_means(u)
        stmt = select(
            u.release_id,
            u.step,
            u.arm,
            func.count(),
            func.sum(u.n),
            func.sum(u.errors),
            func.sum(err),
            func.sum(err * err),
            func.count(lat),
            func.sum(lat),
            func.sum(lat * lat),
            func.sum(u.n_lat),
            func.sum(u.lat),
            func.count(cost),
            func.sum(cost),
            func.sum(cost * cost),
            func.sum(u.n_cost),
            func.sum(u.cost),
        ).group_by(u.release_id, u.step, u.arm)
        stepped: set[str] = set()
        for row in self._conn.execute(stmt):
            m, at_step, arm = out[row[0]], int(row[1]), row[2]
            if at_step:
                stepped.add(row[0])
            if arm in SRM_ARMS:
                m.units[arm] = m.units.get(arm, 0) + int(row[3])
            _put(
                m,
                "error_rate",
                at_step,
                arm,
                ArmSums(int(row[3]), _f(row[6]), _f(row[7]), int(row[4]), _f(row[5])),
            )
            if row[8]:
                _put(
                    m,
                    "latency_ms",
                    at_step,
                    arm,
                    ArmSums(int(row[8]), _f(row[9]), _f(row[10]), int(row[11]), _f(row[12])),
                )
            if row[13]:
                _put(
                    m,
                    "cost",
                    at_step,
                    arm,
                    ArmSums(int(row[13]), _f(row[14]), _f(row[15]), int(row[16]), _f(row[17])),
                )
        self._score_metrics(where, step, out)
        if windows:
            self._windows(sums, where, windows, out)
        if stepped:  # units that came back in a later step
            ids = sorted(stepped)
            again = (*where, calls.c.release_id.in_(ids))
            self._distinct_units(sums, ids, out)
            self._distinct_per_metric(sums, again, ids, out)
            self._first_seen(sums.unit_calls(ids), out)
            self._cross_calls(sums.unit_calls(ids), out)
            self._cross_scores(again, step, out)
        single = [r for r in releases if r.id not in stepped]
        # one step: the units' history (for the variance reduction), as the controller took it
        took = covariates.taken(self._conn, [r.id for r in single]) if source == "rollups" else ()
        for r in single:
            only = (*where, calls.c.release_id == r.id)
            covariates.add_history(
                self._conn,
                r,
                sums.unit_calls([r.id]),
                _unit_scores(only, step),
                out[r.id],
                from_taken=r.id in took,
            )
        for rid, m in out.items():  # one step: every unit is first seen in it
            if rid not in stepped:
                error_steps = m.metrics.get("error_rate", {})
                m.first_seen.update(
                    {s: {a: x.units for a, x in arms.items()} for s, arms in error_steps.items()}
                )

    def _metrics_planner(self) -> AbstractContextManager[None]:
        """On Postgres, no nested loops in the metrics' joins (calls to scores, per-unit sums
        of one step to another, units to their history), and no JIT.

        Before ``ANALYZE`` has seen new calls the planner estimates them at a few rows and
        joins them in nested loops: quadratic in the units, minutes at 12,000 units. Hash
        joins on (call id) and (release, unit) are linear. On a large log the reads' estimated
        cost crosses ``jit_above_cost`` and compiling them cost more than it saved: a look at
        a canary took 0.27-0.32 s with JIT and 0.17-0.25 s without (docs/performance.md,
        "Scale: call log").
        """
        return planner_settings(self._conn, enable_nestloop="off", jit="off")

    def _windows(
        self,
        sums: CallSums,
        where: tuple[Any, ...],
        windows: Mapping[str, tuple[datetime, datetime]],
        out: dict[str, ReleaseMetrics],
    ) -> None:
        """Per-call sums per metric and side over each release's ``(since, until]``."""
        for row in self._conn.execute(sums.window_calls(windows)):
            w = out[row[0]].window
            w.setdefault("error_rate", {})[row[1]] = (int(row[2]), _f(row[3]), _f(row[3]))
            if row[4]:
                w.setdefault("latency_ms", {})[row[1]] = (int(row[4]), _f(row[5]), _f(row[6]))
            if row[7]:
                w.setdefault("cost", {})[row[1]] = (int(row[7]), _f(row[8]), _f(row[9]))
        within = or_(
            *(
                and_(calls.c.release_id == rid, calls.c.at > utc(a), calls.c.at <= utc(b))
                for rid, (a, b) in windows.items()
                if rid in out
            )
        )
        side = case((calls.c.arm == "canary", "canary"), else_="control").label("side")
        joined = calls.join(
            scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
        )
        value = scores.c.value
        stmt = (
            select(
                calls.c.release_id,
                side,
                scores.c.name,
                func.count(),
                func.sum(value),
                func.sum(value * value),
            )
            .select_from(joined)
            .where(*where, within)
            .group_by(calls.c.release_id, side, scores.c.name)
        )
        for row in self._conn.execute(stmt):
            if row[2] in BUILTIN_METRICS:
                continue
            out[row[0]].window.setdefault(row[2], {})[row[1]] = (
                int(row[3]),
                _f(row[4]),
                _f(row[5]),
            )

    def _distinct_per_metric(
        self,
        sums: CallSums,
        where: tuple[Any, ...],
        ids: list[str],
        out: dict[str, ReleaseMetrics],
    ) -> None:
        """Distinct units with a value per metric and side over the whole release."""
        side = case((calls.c.arm == "canary", "canary"), else_="control").label("side")
        unit = calls.c.unit_hash
        for row in self._conn.execute(sums.units_per_metric(ids)):
            d = out[row[0]].distinct
            for metric, units in zip(BUILTIN_METRICS_ORDER, row[2:5], strict=True):
                if units:
                    d.setdefault(metric, {})[row[1]] = int(units)
        joined = calls.join(
            scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
        )
        stmt = (
            select(calls.c.release_id, side, scores.c.name, func.count(distinct(unit)))
            .select_from(joined)
            .where(*where)
            .group_by(calls.c.release_id, side, scores.c.name)
        )
        for rid, at_side, name, units in self._conn.execute(stmt):
            if name not in BUILTIN_METRICS:
                out[rid].distinct.setdefault(name, {})[at_side] = int(units)

    def _first_seen(self, per_unit_calls: Any, out: dict[str, ReleaseMetrics]) -> None:
        """Units per (step, arm) where each unit was first seen (one count per unit).

        One pass: per unit, the smallest ``step * 4 + arm code`` is its first step and, within
        it, its arm (canary before control before baseline, for a unit seen in two).
        """
        u = per_unit_calls.subquery("unit_steps")
        code = u.c.step * 4 + case((u.c.arm == "canary", 0), (u.c.arm == "control", 1), else_=2)
        per_unit = (
            select(u.c.release_id, func.min(code).label("k"))
            .group_by(u.c.release_id, u.c.unit_hash)
            .subquery("first")
        )
        stmt = select(per_unit.c.release_id, per_unit.c.k, func.count()).group_by(
            per_unit.c.release_id, per_unit.c.k
        )
        arms = ("canary", "control", "baseline")
        for rid, k, units in self._conn.execute(stmt):
            at_step, arm = divmod(int(k), 4)
            out[rid].first_seen.setdefault(at_step, {})[arms[arm]] = int(units)

    def _advances(self, release_ids: list[str]) -> tuple[tuple[str, int, datetime], ...]:
        """``(release, step index, at)`` of every ``advance`` of the releases, newest first."""
        stmt = (
            select(release_history.c.release_id, release_history.c.step_index, release_history.c.at)
            .where(
                release_history.c.release_id.in_(release_ids), release_history.c.action == "advance"
            )
            .order_by(release_history.c.id.desc())
        )
        return tuple((rid, int(index), at) for rid, index, at in self._conn.execute(stmt))

    def _distinct_units(
        self, sums: CallSums, release_ids: list[str], out: dict[str, ReleaseMetrics]
    ) -> None:
        """Replace the per-step unit counts of ``release_ids`` with distinct units per arm."""
        for rid, arm, units in self._conn.execute(sums.units_per_arm(release_ids)):
            out[rid].units[arm] = int(units)

    def _cross_calls(self, per_unit_calls: Any, out: dict[str, ReleaseMetrics]) -> None:
        """:class:`SharedUnits` of ``error_rate``, ``latency_ms`` and ``cost`` between steps."""
        per_unit = per_unit_calls.cte("unit_calls")
        a, b = per_unit.alias("a"), per_unit.alias("b")
        columns: list[Any] = []
        for va, vb in zip(_unit_means(a.c), _unit_means(b.c), strict=True):
            both = and_(va.is_not(None), vb.is_not(None))
            columns += [
                func.sum(case((both, 1), else_=0)),
                func.sum(case((both, va))),
                func.sum(case((both, vb))),
                func.sum(case((both, va * vb))),
            ]
        stmt = (
            select(a.c.release_id, a.c.step, a.c.arm, b.c.step, b.c.arm, *columns)
            .select_from(
                a.join(
                    b,
                    and_(
                        a.c.release_id == b.c.release_id,
                        a.c.unit_hash == b.c.unit_hash,
                        a.c.step < b.c.step,
                    ),
                )
            )
            .group_by(a.c.release_id, a.c.step, a.c.arm, b.c.step, b.c.arm)
        )
        for row in self._conn.execute(stmt):
            for i, metric in enumerate(BUILTIN_METRICS_ORDER):
                units, first, second, product = row[5 + 4 * i : 9 + 4 * i]
                if units:
                    out[row[0]].cross.setdefault(metric, []).append(
                        SharedUnits(
                            (int(row[1]), row[2]),
                            (int(row[3]), row[4]),
                            int(units),
                            _f(first),
                            _f(second),
                            _f(product),
                        )
                    )

    def _cross_scores(
        self, where: tuple[Any, ...], step: Any, out: dict[str, ReleaseMetrics]
    ) -> None:
        """:class:`SharedUnits` of every score name between steps."""
        per_unit = _unit_scores(where, step).cte("unit_scores")
        a, b = per_unit.alias("a"), per_unit.alias("b")
        va, vb = a.c.total.op("/")(a.c.n), b.c.total.op("/")(b.c.n)
        stmt = (
            select(
                a.c.release_id,
                a.c.step,
                a.c.arm,
                b.c.step,
                b.c.arm,
                a.c.name,
                func.count(),
                func.sum(va),
                func.sum(vb),
                func.sum(va * vb),
            )
            .select_from(
                a.join(
                    b,
                    and_(
                        a.c.release_id == b.c.release_id,
                        a.c.unit_hash == b.c.unit_hash,
                        a.c.name == b.c.name,
                        a.c.step < b.c.step,
                    ),
                )
            )
            .group_by(a.c.release_id, a.c.step, a.c.arm, b.c.step, b.c.arm, a.c.name)
        )
        for row in self._conn.execute(stmt):
            if row[5] in BUILTIN_METRICS:
                continue
            out[row[0]].cross.setdefault(row[5], []).append(
                SharedUnits(
                    (int(row[1]), row[2]),
                    (int(row[3]), row[4]),
                    int(row[6]),
                    _f(row[7]),
                    _f(row[8]),
                    _f(row[9]),
                )
            )

    def _score_metrics(
        self, where: tuple[Any, ...], step: Any, out: dict[str, ReleaseMetrics]
    ) -> None:
        """Add every score name with data to ``out`` (same two-pass aggregation)."""
        s = _unit_scores(where, step).subquery("s").c
        mean = s.total.op("/")(s.n)
        stmt = select(
            s.release_id,
            s.step,
            s.arm,
            s.name,
            func.count(),
            func.sum(mean),
            func.sum(mean * mean),
            func.sum(s.n),
            func.sum(s.total),
        ).group_by(s.release_id, s.step, s.arm, s.name)
        for row in self._conn.execute(stmt):
            if row[3] in BUILTIN_METRICS:  # a score may not shadow a built-in metric
                continue
            _put(
                out[row[0]],
                row[3],
                int(row[1]),
                row[2],
                ArmSums(int(row[4]), _f(row[5]), _f(row[6]), int(row[7]), _f(row[8])),
            )


def _unit_means(u: Any) -> tuple[Any, Any, Any]:
    """A unit's ``error_rate``, ``latency_ms`` and ``cost`` (NULL when it has no value)."""
    # Float / Float keeps the arithmetic in floating point (SQLAlchemy would cast an integer
    # divisor to NUMERIC on Postgres: exact, slow, and Decimal in Python).
    return (
        u.errors.op("/")(u.n),
        u.lat.op("/")(func.nullif(u.n_lat, 0.0)),
        u.cost.op("/")(func.nullif(u.n_cost, 0.0)),
    )


def _unit_scores(where: tuple[Any, ...], step: Any) -> Any:
    """Per (release, step, arm, unit, score name): score count and sum."""
    joined = calls.join(
        scores, and_(scores.c.project == calls.c.project, scores.c.call_id == calls.c.id)
    )
    return (
        select(
            calls.c.release_id,
            step,
            calls.c.arm,
            calls.c.unit_hash,
            scores.c.name,
            cast(func.count(), Float).label("n"),
            func.sum(scores.c.value).label("total"),
        )
        .select_from(joined)
        .where(*where)
        .group_by(calls.c.release_id, step, calls.c.arm, calls.c.unit_hash, scores.c.name)
    )


def _put(m: ReleaseMetrics, metric: str, step: int, arm: str, sums: ArmSums) -> None:
    m.metrics.setdefault(metric, {}).setdefault(step, {})[arm] = sums
