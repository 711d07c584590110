"""The call log: batched ingest of call records and scores, and reading calls back with the
exact version they used."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from promptstage.domain.calls import CallFilter, CallRecord, Score, parse_call, parse_score
from promptstage.domain.models import Version, iso_utc
from promptstage.domain.template import CompiledTemplate
from promptstage.errors import InvalidInputError, NotFoundError, PromptstageError

from .context import Context
from .deps_drift import announce, count_in
from .pagination import check_limit, decode_time_cursor, page, utc_bound
from .prompts import require_project

MAX_BATCH = 1000


def _items(body: Any, key: str) -> list[Any]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise InvalidInputError(f"body must be {{{key!r}: [...]}}", field=key)
    if len(items) > MAX_BATCH:
        raise InvalidInputError(
            f"{key} holds {len(items)} items; send at most {MAX_BATCH} per request", field=key
        )
    return items


def ingest_calls(ctx: Context, project: str, body: Any) -> dict[str, int]:
    """Validate a whole batch first (all or nothing), then insert it in one transaction."""
    now = ctx.clock()
    records = [parse_call(raw, f"calls[{i}]", now) for i, raw in enumerate(_items(body, "calls"))]
    with ctx.store.unit_of_work(write=True) as uow:
        require_project(uow, project)
        new = uow.add_calls(project, records)
        drift = count_in(uow, project, records) if new else []
    announce(ctx, project, drift)
    return {"accepted": len(records), "new": new}


def ingest_scores(ctx: Context, project: str, body: Any) -> dict[str, int]:
    now = ctx.clock()
    items = [parse_score(raw, f"scores[{i}]", now) for i, raw in enumerate(_items(body, "scores"))]
    with ctx.store.unit_of_work(write=True) as uow:
        require_project(uow, project)
        uow.add_scores(project, items)
    return {"accepted": len(items)}


def list_calls(
    ctx: Context, project: str, where: CallFilter, limit: int = 100, cursor: str | None = None
) -> tuple[list[CallRecord], str | None]:
    """One page of the call log, newest first, filtered by ``where``.

    Raises:
        InvalidInputError: naming ``until`` (not after ``since``), ``limit`` or ``cursor``.
    """
    check_limit(limit)
    # a bare date or time means UTC
    where = dataclasses.replace(where, since=utc_bound(where.since), until=utc_bound(where.until))
    if where.since is not None and where.until is not None and where.until <= where.since:
        raise InvalidInputError(
            "until must be after since (the range is [since, until)); swap or widen them",
            field="until",
        )
    before = decode_time_cursor(cursor)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.list_calls(project, where, limit=limit + 1, before=before)
    return page(rows, limit, lambda c: [iso_utc(c.at), c.id])


def get_call(
    ctx: Context, project: str, call_id: str
) -> tuple[CallRecord, Version | None, list[Score]]:
    """A call, the exact version it used (``None`` if that prompt was since removed), its scores."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        call = uow.get_call(project, call_id)
        if call is None:
            raise NotFoundError(f"no call {call_id!r} in project {project!r}", field="call_id")
        version = uow.get_version(project, call.prompt, call.version)
        scores = uow.scores_of(project, call_id)
    return call, version, scores


@dataclass(frozen=True, slots=True)
class Replay:
    """A call's prompt rendered again from its exact version and logged variables.

    Attributes:
        rendered: the text (text prompts) or the ``[{role, content}]`` messages (chat); ``None``
            when it could not be rendered.
        problem: why it could not be rendered (or why it may differ from what was sent).
        variables_logged: whether the call logged its variables at all.
    """

    rendered: Any
    problem: str | None
    variables_logged: bool


def replay(call: CallRecord, version: Version | None, max_bytes: int) -> Replay:
    """Render ``version`` with ``call``'s logged variables, as the SDK rendered it.

    Never raises for a call that cannot be replayed: :attr:`Replay.problem` says why.
    """
    logged = call.variables is not None
    if version is None:
        problem = (
            f"version {call.version} of prompt {call.prompt!r} no longer exists (the prompt was "
            "removed), so the call cannot be rendered again"
        )
        return Replay(None, problem, logged)
    values = call.variables or {}
    if "_truncated" in values:
        problem = (
            "the call's variables were truncated when logged "
            f"({values['_truncated']}), so it cannot be rendered exactly"
        )
        return Replay(None, problem, logged)
    try:
        rendered = CompiledTemplate(
            version.type, version.template, version.variables, version.includes,
            max_bytes=max_bytes,
        ).render(values)  # fmt: skip
    except PromptstageError as exc:
        if not logged:
            problem = (
                "the call logged no variables, so it cannot be rendered again (pass variables= "
                "to Client.call, and keep them in your redact hook, to make calls replayable)"
            )
        else:
            problem = f"cannot render the call again: {exc.message}"
        return Replay(None, problem, logged)
    return Replay(rendered, None, logged)


def prune_calls(ctx: Context, retention_days: float) -> int:
    """Delete calls older than the retention window (every project).

    First makes sure the call log's day partitions exist a few days ahead (Postgres), in a
    transaction of its own: the worker that runs retention also keeps partitions ahead.
    """
    now = ctx.clock()
    cutoff = now - timedelta(days=retention_days)
    with ctx.store.unit_of_work(write=True) as uow:
        uow.ensure_call_partitions(now.astimezone(UTC).date())
    with ctx.store.unit_of_work(write=True) as uow:
        return uow.delete_calls_before(cutoff)
