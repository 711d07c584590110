"""Eval suites, runs and case results; the runner's claim on a run is a conditional update."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus, EvalSuiteRecord

from .eval_rows import case_of as _case
from .eval_rows import run_of as _run
from .eval_rows import suite_of as _suite
from .tables import eval_case_results, eval_runs, eval_suites
from .uow_base import UnitOfWorkBase, utc

_OPEN = (EvalRunStatus.QUEUED.value, EvalRunStatus.RUNNING.value)


def _opt(at: datetime | None) -> datetime | None:
    return None if at is None else utc(at)


class EvalsRepository(UnitOfWorkBase):
    """Suite versions by (project, name, version); runs by id; cases by (run, case id)."""

    # suites -------------------------------------------------------------------------------
    def add_eval_suite(self, suite: EvalSuiteRecord) -> None:
        """Insert a suite version; ``ConflictError`` if that version or digest exists."""
        self._require_write("add_eval_suite")
        self._insert(
            eval_suites.insert().values(
                project=suite.project,
                name=suite.name,
                version=suite.version,
                digest=suite.digest,
                body=suite.body,
                author=suite.author,
                created_at=utc(suite.created_at),
            ),
            conflict=f"suite {suite.name!r} version {suite.version} was pushed meanwhile; push again",
            missing=self._project_missing(suite.project),
        )

    def get_eval_suite(
        self, project: str, name: str, version: int | None = None
    ) -> EvalSuiteRecord | None:
        """Version ``version`` of a suite, or its newest when ``version`` is ``None``."""
        t = eval_suites
        stmt = select(t).where(t.c.project == project, t.c.name == name)
        if version is not None:
            stmt = stmt.where(t.c.version == version)
        row = self._conn.execute(stmt.order_by(t.c.version.desc()).limit(1)).first()
        return None if row is None else _suite(row)

    def get_eval_suite_by_digest(
        self, project: str, name: str, digest: str
    ) -> EvalSuiteRecord | None:
        t = eval_suites
        stmt = select(t).where(t.c.project == project, t.c.name == name, t.c.digest == digest)
        row = self._conn.execute(stmt).first()
        return None if row is None else _suite(row)

    def list_eval_suites(self, project: str) -> list[EvalSuiteRecord]:
        """The newest version of each of the project's suites, by name."""
        t = eval_suites
        newest = (
            select(t.c.name, func.max(t.c.version).label("version"))
            .where(t.c.project == project)
            .group_by(t.c.name)
            .subquery("newest")
        )
        stmt = (
            select(t)
            .join(newest, and_(t.c.name == newest.c.name, t.c.version == newest.c.version))
            .where(t.c.project == project)
            .order_by(t.c.name)
        )
        return [_suite(row) for row in self._conn.execute(stmt)]

    def list_eval_suite_versions(self, project: str, name: str) -> list[EvalSuiteRecord]:
        """Every version of a suite, newest first."""
        t = eval_suites
        stmt = (
            select(t).where(t.c.project == project, t.c.name == name).order_by(t.c.version.desc())
        )
        return [_suite(row) for row in self._conn.execute(stmt)]

    # runs ---------------------------------------------------------------------------------
    def add_eval_run(self, run: EvalRun) -> None:
        self._require_write("add_eval_run")
        self._insert(
            eval_runs.insert().values(
                id=run.id,
                project=run.project,
                suite=run.suite,
                suite_version=run.suite_version,
                suite_digest=run.suite_digest,
                prompt=run.prompt,
                version=run.version,
                version_digest=run.version_digest,
                model=run.model,
                params=run.params,
                model_snapshot=run.model_snapshot,
                status=run.status.value,
                total=run.total,
                done=run.done,
                passed_cases=run.passed_cases,
                failed_cases=run.failed_cases,
                error_cases=run.error_cases,
                tokens_in=run.tokens_in,
                tokens_out=run.tokens_out,
                cost=run.cost,
                actor=run.actor,
                created_at=utc(run.created_at),
                started_at=_opt(run.started_at),
                finished_at=_opt(run.finished_at),
                error=run.error,
                owner=run.owner,
                heartbeat_at=_opt(run.heartbeat_at),
                replay_id=run.replay_id,
                replay_role=run.replay_role,
                inline_suite=run.inline_suite,
            ),
            conflict=f"eval run {run.id!r} exists already",
            missing=self._project_missing(run.project),
        )

    def get_eval_run(self, run_id: str) -> EvalRun | None:
        row = self._conn.execute(select(eval_runs).where(eval_runs.c.id == run_id)).first()
        return None if row is None else _run(row)

    def list_eval_runs(
        self,
        project: str,
        *,
        suite: str | None,
        prompt: str | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[EvalRun]:
        """Runs newest first (replay runs included), below the ``(created_at, id)`` position."""
        t = eval_runs
        stmt = select(t).where(t.c.project == project)
        if suite is not None:
            stmt = stmt.where(t.c.suite == suite)
        if prompt is not None:
            stmt = stmt.where(t.c.prompt == prompt)
        if before is not None:
            at, key = utc(before[0]), before[1]
            stmt = stmt.where(or_(t.c.created_at < at, and_(t.c.created_at == at, t.c.id < key)))
        stmt = stmt.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
        return [_run(row) for row in self._conn.execute(stmt)]

    def eval_runs_of_version(self, project: str, version_digest: str) -> list[EvalRun]:
        """Every suite run (not replay runs) of a version digest, oldest first."""
        t = eval_runs
        stmt = (
            select(t)
            .where(
                t.c.project == project,
                t.c.version_digest == version_digest,
                t.c.replay_id.is_(None),
            )
            .order_by(t.c.created_at, t.c.id)
        )
        return [_run(row) for row in self._conn.execute(stmt)]

    def eval_runs_of_replay(self, project: str, replay_id: str) -> list[EvalRun]:
        t = eval_runs
        stmt = (
            select(t)
            .where(t.c.project == project, t.c.replay_id == replay_id)
            .order_by(t.c.replay_role)
        )
        return [_run(row) for row in self._conn.execute(stmt)]

    def queued_eval_runs(self, *, limit: int) -> list[str]:
        """Ids of queued runs of every project, oldest first."""
        t = eval_runs
        stmt = (
            select(t.c.id)
            .where(t.c.status == EvalRunStatus.QUEUED.value)
            .order_by(t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [row.id for row in self._conn.execute(stmt)]

    def claim_eval_run(self, run_id: str, owner: str, at: datetime) -> bool:
        """Move a queued run to running for ``owner``; ``False`` if another claimed it first."""
        self._require_write("claim_eval_run")
        t = eval_runs
        stmt = (
            update(t)
            .where(t.c.id == run_id, t.c.status == EvalRunStatus.QUEUED.value)
            .values(
                status=EvalRunStatus.RUNNING.value,
                owner=owner,
                heartbeat_at=utc(at),
                started_at=func.coalesce(t.c.started_at, utc(at)),
                finished_at=None,
                error=None,
            )
        )
        return bool(self._conn.execute(stmt).rowcount)

    def heartbeat_eval_run(self, run_id: str, owner: str, at: datetime) -> bool:
        """Refresh ``owner``'s claim; ``False`` when the run is no longer running for it
        (cancelled, interrupted, claimed by another runner)."""
        self._require_write("heartbeat_eval_run")
        t = eval_runs
        stmt = (
            update(t)
            .where(t.c.id == run_id, t.c.owner == owner, t.c.status == EvalRunStatus.RUNNING.value)
            .values(heartbeat_at=utc(at))
        )
        return bool(self._conn.execute(stmt).rowcount)

    def add_eval_case(self, owner: str, case: EvalCaseRecord) -> bool:
        """Store a graded case and count it in its run's progress, only while the run is
        running for ``owner``; ``False`` (nothing written) otherwise."""
        self._require_write("add_eval_case")
        t = eval_runs
        outcome = "error_cases" if case.error else "passed_cases" if case.passed else "failed_cases"
        values: dict[str, Any] = {
            "done": t.c.done + 1,
            outcome: getattr(t.c, outcome) + 1,
            "tokens_in": t.c.tokens_in + (case.tokens_in or 0),
            "tokens_out": t.c.tokens_out + (case.tokens_out or 0),
        }
        if case.cost is not None:
            values["cost"] = func.coalesce(t.c.cost, 0.0) + case.cost
        found = self._conn.execute(
            update(t)
            .where(
                t.c.id == case.run_id,
                t.c.owner == owner,
                t.c.status == EvalRunStatus.RUNNING.value,
            )
            .values(**values)
        ).rowcount
        if not found:
            return False
        self._insert(
            eval_case_results.insert().values(
                run_id=case.run_id,
                case_id=case.case_id,
                idx=case.index,
                request=case.request,
                response=case.response,
                assertions=case.assertions,
                passed=case.passed,
                error=case.error,
                needs_judge=case.needs_judge,
                deterministic_passed=case.deterministic_passed,
                has_deterministic=case.has_deterministic,
                tokens_in=case.tokens_in,
                tokens_out=case.tokens_out,
                latency_ms=case.latency_ms,
                cost=case.cost,
                at=utc(case.at),
            ),
            conflict=f"case {case.case_id!r} of run {case.run_id!r} is stored already",
        )
        return True

    def finish_eval_run(
        self, run_id: str, owner: str, status: EvalRunStatus, at: datetime, error: str | None
    ) -> bool:
        """End ``owner``'s running run with ``status``; ``False`` if it is not running for it."""
        self._require_write("finish_eval_run")
        t = eval_runs
        stmt = (
            update(t)
            .where(t.c.id == run_id, t.c.owner == owner, t.c.status == EvalRunStatus.RUNNING.value)
            .values(status=status.value, finished_at=utc(at), error=error, owner=None)
        )
        return bool(self._conn.execute(stmt).rowcount)

    def set_eval_run_status(
        self,
        run_id: str,
        from_states: Sequence[EvalRunStatus],
        status: EvalRunStatus,
        at: datetime,
    ) -> bool:
        """Move a run in one of ``from_states`` to ``status`` (cancel, resume); the claim is
        dropped. ``False`` if the run was in another state."""
        self._require_write("set_eval_run_status")
        t = eval_runs
        finished = None if status.open else utc(at)
        stmt = (
            update(t)
            .where(t.c.id == run_id, t.c.status.in_([s.value for s in from_states]))
            .values(status=status.value, owner=None, finished_at=finished)
        )
        return bool(self._conn.execute(stmt).rowcount)

    def interrupt_stale_eval_runs(self, heartbeat_before: datetime, at: datetime) -> list[str]:
        """Mark ``interrupted`` every running run whose runner has not been heard from since
        ``heartbeat_before`` (its process died); their ids."""
        self._require_write("interrupt_stale_eval_runs")
        t = eval_runs
        stale = and_(
            t.c.status == EvalRunStatus.RUNNING.value,
            or_(t.c.heartbeat_at.is_(None), t.c.heartbeat_at < utc(heartbeat_before)),
        )
        ids = [row.id for row in self._conn.execute(select(t.c.id).where(stale))]
        if ids:
            self._conn.execute(
                update(t)
                .where(t.c.id.in_(ids), stale)
                .values(
                    status=EvalRunStatus.INTERRUPTED.value,
                    owner=None,
                    finished_at=utc(at),
                    error="the server running it stopped; resume it to finish the missing cases",
                )
            )
        return ids

    # cases --------------------------------------------------------------------------------
    def list_eval_cases(
        self, run_id: str, *, limit: int, after: int | None = None
    ) -> list[EvalCaseRecord]:
        """A run's cases in suite order, starting after index ``after``."""
        t = eval_case_results
        stmt = select(t).where(t.c.run_id == run_id)
        if after is not None:
            stmt = stmt.where(t.c.idx > after)
        stmt = stmt.order_by(t.c.idx).limit(limit)
        return [_case(row) for row in self._conn.execute(stmt)]

    def eval_case_ids(self, run_id: str) -> set[str]:
        t = eval_case_results
        return {
            row.case_id
            for row in self._conn.execute(select(t.c.case_id).where(t.c.run_id == run_id))
        }
