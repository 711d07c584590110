"""The eval runner: a background job that executes queued runs.

Every replica runs it. A runner takes a run with a conditional update (``claim_eval_run``:
queued -> running, owned by this runner), so two replicas never run the same run, and every
later write (a case, the heartbeat, the end) is conditional on that claim: a cancelled run, or
one another runner took over, stops at the next case. While it runs, a heartbeat refreshes the
claim; a running run whose heartbeat is older than ``stale_seconds`` belonged to a process that
died, and is marked ``interrupted`` (never passed) at start and on every pass. ``resume``
queues it again and the runner runs only its missing cases.

This module never reads settings: the provider factory and the options come from
``create_app``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus
from promptstage.errors import ConfigurationError, PromptstageError
from promptstage.evals.providers import Provider, run_all
from promptstage.evals.suite import Case, Suite, suite_from_dict

from .context import Context
from .eval_cases import Target, fresh_tokens, run_case
from .eval_judge import JudgeClients
from .eval_suites import load_suite

log = logging.getLogger("promptstage.evals")

ProviderFactory = Callable[[str], Provider]
"""Opens the client of a ``config.model.provider`` (raises ``ConfigurationError``)."""


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """How the runner works: model calls in flight per run, seconds between passes, and the
    age of a heartbeat after which a running run counts as abandoned."""

    concurrency: int = 8
    poll_seconds: float = 1.0
    stale_seconds: float = 30.0
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for value, setting in (
            (self.concurrency, "PROMPTSTAGE_EVAL_CONCURRENCY"),
            (self.poll_seconds, "PROMPTSTAGE_EVAL_POLL_SECONDS"),
            (self.stale_seconds, "PROMPTSTAGE_EVAL_RUN_STALE_SECONDS"),
        ):
            if not value > 0:
                raise ConfigurationError(f"{setting} must be above 0 (got {value})", field=setting)


class _Lost(Exception):
    """The run stopped being ours (cancelled, interrupted, taken over)."""


class EvalRunner:
    """Claims and executes queued runs; see the module docstring."""

    def __init__(
        self, ctx: Context, providers: ProviderFactory, options: RunnerOptions | None = None
    ) -> None:
        self.ctx = ctx
        self.providers = providers
        self.options = options or RunnerOptions()
        self.owner = f"runner_{secrets.token_hex(8)}"
        self._next_sweep = 0.0

    # the loop -----------------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Interrupt abandoned runs, then run queued ones, every ``poll_seconds``."""
        while True:
            try:
                await self.run_once()
            except PromptstageError as exc:
                log.warning("eval runner pass failed: %s", exc.message)
            except Exception:  # the job outlives a bad pass; the run it held ends as error
                log.exception("eval runner pass failed")
            await asyncio.sleep(self.options.poll_seconds)

    async def run_once(self) -> int:
        """One pass: mark abandoned runs interrupted, then run every run this runner claims;
        how many it ran."""
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + max(self.options.stale_seconds / 3, 0.05)
            await asyncio.to_thread(self.interrupt_stale)
        ran = 0
        while True:
            run_id = await asyncio.to_thread(self._claim_next)
            if run_id is None:
                return ran
            await self.execute(run_id)
            ran += 1

    def interrupt_stale(self) -> list[str]:
        """Mark ``interrupted`` the running runs whose runner stopped beating."""
        with self.ctx.store.unit_of_work(write=True) as uow:
            now = uow.database_now()
            ids = uow.interrupt_stale_eval_runs(
                now - timedelta(seconds=self.options.stale_seconds), now
            )
        for run_id in ids:
            log.warning("eval run %s was left running by a stopped server: interrupted", run_id)
        return ids

    def _claim_next(self) -> str | None:
        with self.ctx.store.unit_of_work() as uow:  # most passes find nothing: read first
            if not uow.queued_eval_runs(limit=1):
                return None
        with self.ctx.store.unit_of_work(write=True) as uow:
            now = uow.database_now()
            for run_id in uow.queued_eval_runs(limit=10):
                if uow.claim_eval_run(run_id, self.owner, now):
                    return run_id
        return None

    # one run ------------------------------------------------------------------------------
    async def execute(self, run_id: str) -> None:
        """Run the missing cases of a run this runner claimed, then end it."""
        try:
            run, suite, target, done = await asyncio.to_thread(self._prepare, run_id)
        except PromptstageError as exc:
            await asyncio.to_thread(self._finish, run_id, EvalRunStatus.ERROR, exc.message)
            return
        except Exception as exc:  # a stored row we cannot read: an error run, never a pass
            log.exception("eval run %s could not be prepared", run_id)
            message = f"the run could not be prepared: {type(exc).__name__}"
            await asyncio.to_thread(self._finish, run_id, EvalRunStatus.ERROR, message)
            return
        try:
            provider = self.providers(run.model["provider"])
        except Exception as exc:  # unknown provider, unset key variable: an error run
            message = exc.message if isinstance(exc, PromptstageError) else type(exc).__name__
            await asyncio.to_thread(self._finish, run_id, EvalRunStatus.ERROR, message)
            return
        judges = JudgeClients(self.providers)
        work = asyncio.create_task(self._cases(run, suite, target, done, provider, judges))
        beat = asyncio.create_task(self._beat(run_id, work))
        try:
            await work
        except _Lost:
            log.info("eval run %s stopped: cancelled or taken over", run_id)
            return
        except asyncio.CancelledError:
            if beat.done() and not beat.cancelled() and beat.result() is False:
                log.info("eval run %s stopped: cancelled or taken over", run_id)
                return
            # the server is stopping: the run did not pass, and can be resumed
            self._interrupt_own(run_id)
            raise
        except Exception as exc:  # a bug is an error run, never a pass
            log.exception("eval run %s failed", run_id)
            await asyncio.to_thread(
                self._finish,
                run_id,
                EvalRunStatus.ERROR,
                f"the runner failed: {type(exc).__name__}",
            )
            return
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            await provider.aclose()
            await judges.aclose()
        await asyncio.to_thread(self._conclude, run_id)

    def _prepare(self, run_id: str) -> tuple[EvalRun, Suite, Target, set[str]]:
        with self.ctx.store.unit_of_work() as uow:
            run = uow.get_eval_run(run_id)
            if run is None:
                raise PromptstageError(f"eval run {run_id} disappeared")
            if run.inline_suite is not None:
                suite = suite_from_dict(run.inline_suite)
            else:
                suite = load_suite(uow, run.project, run.suite, run.suite_version).suite
            if suite.digest != run.suite_digest:
                raise PromptstageError(
                    f"suite {run.suite} no longer has the digest this run was started on; "
                    "start a new run"
                )
            version = uow.get_version(run.project, run.prompt, run.version)
            if version is None or version.digest != run.version_digest:
                raise PromptstageError(
                    f"prompt {run.prompt} version {run.version} is gone or changed; start a new run"
                )
            done = uow.eval_case_ids(run_id)
        return run, suite, Target.of(version, run.model, self.options.allowed_hosts), done

    async def _cases(
        self,
        run: EvalRun,
        suite: Suite,
        target: Target,
        done: set[str],
        provider: Provider,
        judges: JudgeClients,
    ) -> None:
        tokens = fresh_tokens(suite)  # a fresh canary per run (and per resumption)
        missing = [(i, c) for i, c in enumerate(suite.cases) if c.id not in done]

        async def one(index: int, case: Case) -> None:
            record = await run_case(
                provider, suite, target, run.id, index, case, tokens, self.ctx.clock(), judges
            )
            if not await asyncio.to_thread(self._store, record):
                raise _Lost(run.id)

        await run_all([partial(one, i, c) for i, c in missing], self.options.concurrency)

    def _store(self, record: EvalCaseRecord) -> bool:
        with self.ctx.store.unit_of_work(write=True) as uow:
            return uow.add_eval_case(self.owner, record)

    async def _beat(self, run_id: str, main: asyncio.Task[None]) -> bool:
        """Refresh the claim every third of ``stale_seconds``; cancel ``main`` and return
        ``False`` as soon as the run is no longer ours."""
        while True:
            await asyncio.sleep(max(self.options.stale_seconds / 3, 0.05))
            ok = await asyncio.to_thread(self._heartbeat, run_id)
            if not ok:
                main.cancel()
                return False

    def _heartbeat(self, run_id: str) -> bool:
        with self.ctx.store.unit_of_work(write=True) as uow:
            return uow.heartbeat_eval_run(run_id, self.owner, uow.database_now())

    def _conclude(self, run_id: str) -> None:
        with self.ctx.store.unit_of_work() as uow:
            run = uow.get_eval_run(run_id)
        if run is None:
            return
        if run.done < run.total:
            status, error = EvalRunStatus.ERROR, f"{run.total - run.done} case(s) have no result"
        elif run.error_cases:
            status, error = EvalRunStatus.ERROR, f"{run.error_cases} case(s) ended in an error"
        elif run.failed_cases:
            status, error = EvalRunStatus.FAILED, None
        else:
            status, error = EvalRunStatus.PASSED, None
        self._finish(run_id, status, error)

    def _interrupt_own(self, run_id: str) -> None:
        try:
            with self.ctx.store.unit_of_work(write=True) as uow:
                uow.finish_eval_run(
                    run_id,
                    self.owner,
                    EvalRunStatus.INTERRUPTED,
                    uow.database_now(),
                    "the server stopped during the run; resume it to finish the missing cases",
                )
        except PromptstageError as exc:  # the heartbeat timeout will interrupt it instead
            log.warning("could not mark eval run %s interrupted: %s", run_id, exc.message)

    def _finish(self, run_id: str, status: EvalRunStatus, error: str | None) -> None:
        with self.ctx.store.unit_of_work(write=True) as uow:
            uow.finish_eval_run(run_id, self.owner, status, uow.database_now(), error)
