"""Eval runs: start (queued for the runner job), list, show, cancel, resume; and what the
gate reads (``suite_runs``, ``suite_digests``).

A run is bound to the triple (version digest, model snapshot digest, suite digest): the model
snapshot is ``evals.gate_policy.model_snapshot_digest(model, params)`` of the model the run
calls (the version's ``config.model`` unless the run overrides it) and the version's params.
A run that overrides the model therefore never counts for the version's own snapshot.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from promptstage.domain.config import parse_config
from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus
from promptstage.domain.events import AuditAction
from promptstage.domain.models import MAX_VERSION, iso_utc
from promptstage.domain.names import PROMPT_NAME
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.evals.builtin import BUILTIN_SUITES, builtin_suite
from promptstage.evals.gate_policy import CaseOutcome, RunStatus, SuiteRun, model_snapshot_digest
from promptstage.evals.providers.config import ANTHROPIC, OPENAI_COMPATIBLE
from promptstage.evals.suite import BUILTIN_PREFIX
from promptstage.store.base import EvalsRepo

from .context import Context, change
from .eval_suites import load_suite
from .pagination import check_limit, decode_cursor, decode_time_cursor, encode_cursor, page
from .prompts import require_project, require_prompt, require_version

MAX_CASES_PAGE = 500
_GATE_STATUS = {
    EvalRunStatus.QUEUED: RunStatus.QUEUED,
    EvalRunStatus.RUNNING: RunStatus.RUNNING,
    EvalRunStatus.INTERRUPTED: RunStatus.INTERRUPTED,
    EvalRunStatus.CANCELLED: RunStatus.CANCELLED,
}


def new_run_id() -> str:
    return f"run_{secrets.token_hex(8)}"


def parse_model(value: Any) -> dict[str, str] | None:
    """A run's model override ``{provider, name, version}``, or ``None``.

    Raises:
        InvalidInputError: not a model reference, or a provider with no eval client.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInputError(
            "model must be {provider, name, version} or omitted (the version's model)",
            field="model",
        )
    model: dict[str, str] = parse_config({"model": value})["model"]
    if model["provider"] not in OPENAI_COMPATIBLE | ANTHROPIC:
        raise InvalidInputError(
            f"model.provider {model['provider']!r} has no eval client; use one of "
            f"{sorted(OPENAI_COMPATIBLE | ANTHROPIC)}",
            field="model.provider",
        )
    return model


def _text(value: Any, field: str, limit: int = 129) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise InvalidInputError(f"{field} must be a non-empty string", field=field)
    return value


def _number(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VERSION:
        raise InvalidInputError(f"{field} must be a version number (1 or more)", field=field)
    return value


def start_run(
    ctx: Context,
    actor: str,
    project: str,
    *,
    suite: Any,
    prompt: Any,
    version: Any,
    model: Any = None,
    suite_version: Any = None,
) -> EvalRun:
    """Queue a run of ``suite`` (its newest version unless ``suite_version``) on a version.

    Raises:
        InvalidInputError: a malformed field (named). NotFoundError: no such suite, prompt
            or version.
    """
    name = _text(suite, "suite")
    prompt_name = _text(prompt, "prompt")
    if not PROMPT_NAME.fullmatch(prompt_name):
        raise NotFoundError(f"prompt {prompt_name!r} does not exist", field="prompt")
    number = _number(version, "version")
    wanted = None if suite_version is None else _suite_version(suite_version)
    override = parse_model(model)
    with change(ctx, project, actor) as ch:
        view = load_suite(ch.uow, project, name, wanted)
        require_prompt(ch.uow, project, prompt_name)
        target = require_version(ch.uow, project, prompt_name, number)
        params = dict(target.config.get("params") or {})
        used = override or dict(target.config["model"])
        run = EvalRun(
            id=new_run_id(),
            project=project,
            suite=view.name,
            suite_version=view.version,
            suite_digest=view.digest,
            prompt=prompt_name,
            version=number,
            version_digest=target.digest,
            model=used,
            params=params,
            model_snapshot=model_snapshot_digest(used, params),
            status=EvalRunStatus.QUEUED,
            total=len(view.suite.cases),
            actor=actor,
            created_at=ch.at,
        )
        ch.uow.add_eval_run(run)
        ch.record(
            AuditAction.EVAL_RUN_START,
            f"eval_run:{run.id}",
            before=None,
            after=_audit_view(run),
        )
    return run


def _suite_version(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VERSION:
        raise InvalidInputError(
            "suite_version must be a suite version number", field="suite_version"
        )
    return value


def _audit_view(run: EvalRun) -> dict[str, Any]:
    return {
        "suite": run.suite,
        "suite_version": run.suite_version,
        "suite_digest": run.suite_digest,
        "prompt": run.prompt,
        "version": run.version,
        "version_digest": run.version_digest,
        "model": run.model,
        "model_snapshot": run.model_snapshot,
        "status": run.status.value,
    }


def require_run(uow: EvalsRepo, project: str, run_id: Any) -> EvalRun:
    run = uow.get_eval_run(run_id) if isinstance(run_id, str) and len(run_id) <= 64 else None
    if run is None or run.project != project:
        raise NotFoundError(f"no eval run {run_id!r} in project {project!r}", field="run_id")
    return run


def get_run(
    ctx: Context, project: str, run_id: str, *, limit: int = 100, cursor: str | None = None
) -> tuple[EvalRun, list[EvalCaseRecord], str | None]:
    """A run and one page of its cases (suite order)."""
    check_limit(limit)
    after = decode_cursor(cursor, int, maximum=2**31 - 1)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        run = require_run(uow, project, run_id)
        cases = uow.list_eval_cases(run.id, limit=limit + 1, after=after)
    items, _ = page(cases, limit, lambda c: c.index)
    next_cursor = encode_cursor(items[-1].index) if len(cases) > limit else None
    return run, items, next_cursor


def list_runs(
    ctx: Context,
    project: str,
    *,
    suite: str | None = None,
    prompt: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[EvalRun], str | None]:
    """Runs newest first."""
    check_limit(limit)
    before = decode_time_cursor(cursor)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        found = uow.list_eval_runs(
            project, suite=suite, prompt=prompt, limit=limit + 1, before=before
        )
    return page(found, limit, lambda r: [iso_utc(r.created_at), r.id])


def cancel_run(ctx: Context, actor: str, project: str, run_id: str) -> EvalRun:
    """Cancel a queued or running run; its runner stops at its next step.

    Raises:
        ConflictError: the run has ended already.
    """
    with change(ctx, project, actor) as ch:
        run = require_run(ch.uow, project, run_id)
        open_states = [EvalRunStatus.QUEUED, EvalRunStatus.RUNNING]
        if not ch.uow.set_eval_run_status(run.id, open_states, EvalRunStatus.CANCELLED, ch.at):
            raise ConflictError(
                f"eval run {run.id} is {run.status.value}: only a queued or running run can be "
                "cancelled",
                field="run_id",
            )
        ch.record(
            AuditAction.EVAL_RUN_CANCEL,
            f"eval_run:{run.id}",
            before={"status": run.status.value},
            after={"status": EvalRunStatus.CANCELLED.value},
        )
        done = ch.uow.get_eval_run(run.id)
    assert done is not None
    return done


def resume_run(ctx: Context, actor: str, project: str, run_id: str) -> EvalRun:
    """Queue an interrupted run again; the runner runs only its missing cases.

    Raises:
        ConflictError: the run is not interrupted.
    """
    with change(ctx, project, actor) as ch:
        run = require_run(ch.uow, project, run_id)
        if not ch.uow.set_eval_run_status(
            run.id, [EvalRunStatus.INTERRUPTED], EvalRunStatus.QUEUED, ch.at
        ):
            raise ConflictError(
                f"eval run {run.id} is {run.status.value}: only an interrupted run can be "
                "resumed (start a new run instead)",
                field="run_id",
            )
        ch.record(
            AuditAction.EVAL_RUN_RESUME,
            f"eval_run:{run.id}",
            before={"status": run.status.value, "done": run.done},
            after={"status": EvalRunStatus.QUEUED.value, "missing": run.total - run.done},
        )
        resumed = ch.uow.get_eval_run(run.id)
    assert resumed is not None
    return resumed


# what the gate reads -------------------------------------------------------------------------
def _gate_status(run: EvalRun) -> RunStatus:
    if run.status in _GATE_STATUS:
        return _GATE_STATUS[run.status]
    # passed, failed, error: the gate grades the cases itself (errors block there); a run
    # that ended without every case is a failed run.
    return RunStatus.COMPLETED if run.done == run.total else RunStatus.FAILED


def suite_runs(uow: EvalsRepo, project: str, version_digest: str) -> list[SuiteRun]:
    """Every suite run of ``version_digest`` (replays excluded), oldest first, as the gate sees
    it: status, model snapshot digest, suite digest and every stored case outcome."""
    out = []
    for run in uow.eval_runs_of_version(project, version_digest):
        cases = uow.list_eval_cases(run.id, limit=run.total + 1)
        out.append(
            SuiteRun(
                run_id=run.id,
                suite=run.suite,
                suite_digest=run.suite_digest,
                version_digest=run.version_digest,
                model_snapshot=run.model_snapshot,
                status=_gate_status(run),
                total_cases=run.total,
                cases=tuple(
                    CaseOutcome(
                        c.case_id,
                        c.passed,
                        c.deterministic_passed,
                        c.has_deterministic,
                        c.error is not None,
                        c.needs_judge,
                    )
                    for c in cases
                ),
            )
        )
    return out


def suite_digests(uow: EvalsRepo, project: str, names: Iterable[str]) -> dict[str, str]:
    """The current digest of each named suite (built-ins included); unknown names are left
    out (the gate then blocks with "does not exist")."""
    out: dict[str, str] = {}
    for name in names:
        if name.startswith(BUILTIN_PREFIX):
            if name in BUILTIN_SUITES:
                out[name] = builtin_suite(name).digest
            continue
        record = uow.get_eval_suite(project, name)
        if record is not None:
            out[name] = record.digest
    return out
