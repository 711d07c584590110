"""Eval suites, runs and replays as a signed-in person acts on them (the admin UI).

The API's eval routes need the editor role before they call ``eval_suites`` / ``eval_runs`` /
``eval_replays``; these functions apply the same rule to a :class:`Principal`, so the UI holds
no policy. ``start_required`` starts a run of every suite the gate of ``label`` still wants
for a version (what the gate box's "Run the required suites" button does).
"""

from __future__ import annotations

from typing import Any

from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus
from promptstage.domain.models import Role, iso_utc
from promptstage.errors import ConflictError, InvalidInputError

from . import eval_replays, eval_runs, eval_suites
from .access import check
from .context import Context
from .eval_suites import SuiteView
from .gate_status import gate_status
from .keys import Principal
from .pagination import encode_cursor

STATUSES = tuple(s.value for s in EvalRunStatus)
SCAN = 2000
"""Runs one page of a version or status filter looks at, at most."""
SCAN_BATCH = 200


def label_gate(
    ctx: Context, project: str, prompt: str, number: int, label: str
) -> dict[str, Any] | None:
    """The gate status of ``label`` for version ``number`` (``{allowed, reasons, verdicts,
    overrides}``, the same decision the promotion door makes), or ``None`` when the label has
    no gate or the server runs without the evaluation gate."""
    found = gate_status(ctx, project, prompt, number)
    if found is None:
        return None
    entry = found.get(label)
    return None if entry is None or (not entry.get("verdicts") and entry.get("allowed")) else entry


def suites(ctx: Context, who: Principal, project: str) -> list[SuiteView]:
    check(who, project, Role.editor)
    return eval_suites.list_suites(ctx, project)


def suite(
    ctx: Context, who: Principal, project: str, name: str, version: int | None = None
) -> tuple[SuiteView, list[dict[str, Any]]]:
    check(who, project, Role.editor)
    return eval_suites.show_suite(ctx, project, name, version)


def push_suite(
    ctx: Context, who: Principal, project: str, text: str, fmt: str
) -> tuple[SuiteView, bool]:
    check(who, project, Role.editor)
    return eval_suites.push_suite(ctx, who.actor, project, text, fmt)


def runs(
    ctx: Context,
    who: Principal,
    project: str,
    *,
    prompt: str | None = None,
    suite: str | None = None,
    version: int | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[EvalRun], str | None]:
    """Runs newest first, filtered by prompt and suite in the store and by version and status
    while paging through it (at most :data:`SCAN` runs per page asked; the cursor then
    continues the scan where it stopped, so a sparse filter pages on, never loses runs).

    Raises:
        InvalidInputError: an unknown status, or a malformed cursor.
    """
    check(who, project, Role.editor)
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"status must be one of {list(STATUSES)}", field="status")
    if version is None and status is None:
        return eval_runs.list_runs(
            ctx, project, prompt=prompt, suite=suite, limit=limit, cursor=cursor
        )
    found: list[EvalRun] = []
    scanned = 0
    while True:
        batch, cursor = eval_runs.list_runs(
            ctx, project, prompt=prompt, suite=suite, limit=SCAN_BATCH, cursor=cursor
        )
        for index, run in enumerate(batch):
            scanned += 1
            if (version is None or run.version == version) and (
                status is None or run.status.value == status
            ):
                found.append(run)
            if len(found) == limit or scanned >= SCAN:
                more = cursor is not None or index < len(batch) - 1
                return found, encode_cursor([iso_utc(run.created_at), run.id]) if more else None
        if cursor is None:
            return found, None


def run(
    ctx: Context, who: Principal, project: str, run_id: str, **page: Any
) -> tuple[EvalRun, list[EvalCaseRecord], str | None]:
    check(who, project, Role.editor)
    return eval_runs.get_run(ctx, project, run_id, **page)


def start_run(ctx: Context, who: Principal, project: str, **fields: Any) -> EvalRun:
    check(who, project, Role.editor)
    return eval_runs.start_run(ctx, who.actor, project, **fields)


def cancel_run(ctx: Context, who: Principal, project: str, run_id: str) -> EvalRun:
    check(who, project, Role.editor)
    return eval_runs.cancel_run(ctx, who.actor, project, run_id)


def resume_run(ctx: Context, who: Principal, project: str, run_id: str) -> EvalRun:
    check(who, project, Role.editor)
    return eval_runs.resume_run(ctx, who.actor, project, run_id)


def start_required(
    ctx: Context, who: Principal, project: str, prompt: str, number: int, label: str
) -> list[EvalRun]:
    """Start a run of every suite whose verdict blocks ``label`` for version ``number``.

    Raises:
        ConflictError: the label has no gate, or no suite of it is failing.
    """
    check(who, project, Role.editor)
    status = label_gate(ctx, project, prompt, number, label)
    wanted = [] if status is None else [v for v in status["verdicts"] if not v["passed"]]
    if not wanted:
        raise ConflictError(
            f"label {label!r} needs no eval run for version {number} of {prompt!r}: its gate "
            "already allows the version (or the label has no gate)",
            field="label",
        )
    return [
        eval_runs.start_run(
            ctx, who.actor, project, suite=v["suite"], prompt=prompt, version=number
        )
        for v in wanted
    ]


def start_replay(ctx: Context, who: Principal, project: str, **fields: Any) -> str:
    check(who, project, Role.editor)
    return eval_replays.start_replay(ctx, who.actor, project, **fields)


def replay(ctx: Context, who: Principal, project: str, replay_id: str) -> dict[str, Any]:
    check(who, project, Role.editor)
    return eval_replays.replay_report(ctx, project, replay_id)
