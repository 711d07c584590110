"""Batched ingest of call records, keeping the per-minute rollups in the same transaction.

Postgres: the batch is loaded into a session-local staging table (``COPY`` through psycopg 3,
or a plain ``executemany`` of ``INSERT``s: ``method``), then one statement moves the records
whose id is not stored yet in the project into ``calls`` and adds exactly those to
``call_rollups``. Duplicate handling is the same on both paths and the same as before
partitioning: a record whose id the project already stored (whatever its ``at``) is skipped,
and within one batch the first record of an id wins. A partitioned table has no index over
all its partitions, so the batch's ids are looked up in the key index of every day partition:
all of them in one index scan per partition (``id = ANY (...)``), then a hashed ``NOT IN``,
rather than one probe of every partition per record, which cost twice as much at 93
partitions. That scan needs statistics that know a filling partition's size, so the batch's
partitions are analyzed whenever they double (``partitions.analyze_grown``). Ids are the client's, so they are unique per project (migration 0017): another
project's calls never make one skipped. Two concurrent transactions carrying the same id *and*
the same ``at`` still store it once (the ``(project, id, at)`` key); the same id with two
different ``at`` values in two transactions running at the same instant is the one case the
partitioned table cannot refuse.

SQLite: one writer at a time (``BEGIN IMMEDIATE``), so the ids already stored are read first
and the rollups of the new records are summed in Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from json import dumps
from typing import Any, Final, Literal

from sqlalchemy import Connection, select
from sqlalchemy.dialects import sqlite

from promptstage.domain.calls import CallRecord

from .partitions import analyze_grown, ensure_days
from .planner import planner_settings
from .tables import call_rollups, calls
from .uow_base import utc

IngestMethod = Literal["copy", "insert"]

CALL_COLUMNS: Final = tuple(c.name for c in calls.columns)
_SUMS: Final = ("n", "errors", "n_lat", "lat", "lat_sq", "n_cost", "cost", "cost_sq")
_KEY: Final = ("project", "release_id", "arm", "unit_hash", "minute")
_COLS = ", ".join(CALL_COLUMNS)

_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS calls_stage (ord integer, LIKE calls) ON COMMIT DELETE ROWS"
)
_STAGE_INSERT = (
    f"INSERT INTO calls_stage (ord, {_COLS}) VALUES ({', '.join(['%s'] * (len(CALL_COLUMNS) + 1))})"
)
_STAGE_COPY = f"COPY calls_stage (ord, {_COLS}) FROM STDIN"


def _square(column: str) -> str:
    # Postgres raises on a float underflow (1e-170 squared): such a square counts as 0
    return f"(CASE WHEN abs({column}) < 1e-150 THEN 0 ELSE {column} * {column} END)"


_PG_MINUTE = "date_trunc('minute', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_MERGE = f"""
WITH new AS (
    INSERT INTO calls ({_COLS})
    SELECT DISTINCT ON (s.id) {", ".join(f"s.{c}" for c in CALL_COLUMNS)}
    FROM calls_stage s
    WHERE s.id NOT IN (
        SELECT c.id FROM calls c
        WHERE c.project = %(project)s AND c.id = ANY (ARRAY(SELECT id FROM calls_stage))
    )
    ORDER BY s.id, s.ord
    ON CONFLICT DO NOTHING
    RETURNING project, release_id, arm, unit_hash, at, error, latency_ms, cost
), rolled AS (
    INSERT INTO call_rollups ({", ".join(_KEY + _SUMS)})
    SELECT project, release_id, arm, unit_hash, {_PG_MINUTE}, count(*),
           count(error), count(latency_ms), coalesce(sum(latency_ms), 0),
           coalesce(sum({_square("latency_ms")}), 0), count(cost), coalesce(sum(cost), 0),
           coalesce(sum({_square("cost")}), 0)
    FROM new
    WHERE release_id IS NOT NULL AND unit_hash IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET
        {", ".join(f"{c} = call_rollups.{c} + EXCLUDED.{c}" for c in _SUMS)}
)
SELECT count(*) FROM new
"""


def minute_of(at: datetime) -> datetime:
    """The UTC minute ``at`` falls in (the rollups' bucket)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


_STAGED: Final = (
    "id", "project", "prompt", "label", "version", "digest", "release_id", "arm", "unit_hash",
    "context", "variables", "output", "model", "latency_ms", "tokens_in", "tokens_out", "cost",
    "error", "at", "index_used", "tools_used",
)  # fmt: skip
if _STAGED != CALL_COLUMNS:  # a column added to ``calls`` must be staged too
    raise RuntimeError(f"staged_rows writes {_STAGED}, but calls has {CALL_COLUMNS}")
_AT: Final = 1 + _STAGED.index("at")


def staged_rows(project: str, records: Sequence[CallRecord]) -> list[tuple[Any, ...]]:
    """The staging table's rows of ``records``: each one's position in the batch, then the
    columns of ``calls`` in order (:data:`_STAGED`), JSON values encoded as ``json.dumps``
    does (what psycopg's ``Jsonb`` sends; the jsonb columns parse the text).

    Raises:
        ValueError: a record's ``at`` is naive.
    """
    return [
        (
            i,
            c.id,
            project,
            c.prompt,
            c.label,
            c.version,
            c.digest,
            c.release_id,
            c.arm,
            c.unit_hash,
            dumps(c.context),
            _json(c.variables),
            _json(c.output),
            c.model,
            c.latency_ms,
            c.tokens_in,
            c.tokens_out,
            c.cost,
            c.error,
            utc(c.at),
            c.index,
            _json(c.tools),  # a tuple encodes as a JSON array
        )
        for i, c in enumerate(records)
    ]


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def insert_postgres(
    conn: Connection, project: str, records: Sequence[CallRecord], method: IngestMethod
) -> int:
    """Stage ``records`` (all of ``project``) by ``COPY`` or ``INSERT``, then merge the new
    ones; returns how many."""
    params = staged_rows(project, records)
    days = {row[_AT].date() for row in params}
    ensure_days(conn, days)
    conn.exec_driver_sql(_STAGE)
    if method == "copy":
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(_STAGE_COPY) as copy:  # type: ignore[union-attr]
            write = copy.write_row
            for values in params:
                write(values)
    else:
        conn.exec_driver_sql(_STAGE_INSERT, params)
    # The planner's cost of the duplicate probe (the batch's ids looked up in the key index of
    # every day partition) grows with the log, and past jit_above_cost compiling the merge
    # cost about 130 ms of a 450 ms batch, for a statement that touches a few thousand rows
    # (docs/performance.md, "Scale: call log"). No JIT for the merge.
    with planner_settings(conn, jit="off"):
        new = int(conn.exec_driver_sql(_MERGE, {"project": project}).scalar_one())
    conn.exec_driver_sql("TRUNCATE calls_stage")
    analyze_grown(conn, days)  # the next batch's probe is planned for the partition's real size
    return new


def insert_sqlite(conn: Connection, project: str, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose id is new in ``project`` (first of an id wins), and add them to
    the rollups."""
    stored: set[str] = set()
    ids = list({row["id"] for row in rows})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found = select(calls.c.id).where(calls.c.project == project, calls.c.id.in_(chunk))
        stored.update(conn.execute(found).scalars())
    fresh: list[dict[str, Any]] = []
    for row in rows:
        if row["id"] not in stored:
            stored.add(row["id"])
            fresh.append(row)
    if not fresh:
        return 0
    conn.execute(calls.insert(), fresh)
    sums = rollup_sums(fresh)
    if sums:
        stmt = sqlite.insert(call_rollups)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={c: getattr(call_rollups.c, c) + getattr(stmt.excluded, c) for c in _SUMS},
        )
        conn.execute(stmt, [dict(zip(_KEY, k, strict=True)) | v for k, v in sums.items()])
    return len(fresh)


def rollup_sums(rows: Iterable[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per (project, release, arm, unit, minute) sums of the unit-keyed calls of releases."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        if row["release_id"] is None or row["unit_hash"] is None:
            continue
        key = (
            row["project"],
            row["release_id"],
            row["arm"],
            row["unit_hash"],
            minute_of(row["at"]),
        )
        s = out.get(key)
        if s is None:
            s = out[key] = dict.fromkeys(_SUMS, 0)
        s["n"] += 1
        s["errors"] += row["error"] is not None
        if row["latency_ms"] is not None:
            s["n_lat"] += 1
            s["lat"] += row["latency_ms"]
            s["lat_sq"] += row["latency_ms"] ** 2
        if row["cost"] is not None:
            s["n_cost"] += 1
            s["cost"] += row["cost"]
            s["cost_sq"] += row["cost"] ** 2
    return out
