"""Day partitions of the call log on Postgres (declarative ``PARTITION BY RANGE (at)``).

Migration ``0014_calllog`` turns ``calls`` into a partitioned table with one partition per UTC
day, named ``calls_pYYYYMMDD``. Partitions are created ahead of time (:data:`DAYS_AHEAD` days,
on startup and by the retention worker: :func:`ensure_ahead`), and on ingest for a record whose
day has none yet (a late or early record: :func:`ensure_days`, in its own short transaction).
Retention drops whole partitions (:func:`drop_before`); the store then deletes row by row only
in the one partition the cutoff falls inside.

SQLite keeps one plain ``calls`` table: every function here is a no-op there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

DAYS_AHEAD: Final = 3
"""Days after today whose partitions always exist."""

PREFIX: Final = "calls_p"
_NAME = re.compile(r"calls_p(\d{8})")
_LOCK_TIMEOUT_MS: Final = 5000


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, Any]) -> bool:
    """Alembic's ``include_name``: leave the day partitions out of schema comparisons (they are
    data, managed at run time, not part of ``tables.py``)."""
    if type_ == "table":
        return not (name is not None and _NAME.fullmatch(name))
    table = parent_names.get("table_name")
    return not (isinstance(table, str) and _NAME.fullmatch(table))


def partition_name(day: date) -> str:
    """``calls_pYYYYMMDD``."""
    return f"{PREFIX}{day:%Y%m%d}"


def create_sql(day: date) -> str:
    """The DDL creating ``day``'s partition if it does not exist (bounds in UTC)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF calls "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def is_partitioned(conn: Connection) -> bool:
    """Whether ``calls`` is a partitioned table (Postgres after migration 0013)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('calls')"
    ).scalar()
    return kind == "p"


def partition_days(conn: Connection) -> list[date]:
    """The days that have a partition, oldest first (``[]`` unless partitioned)."""
    if not is_partitioned(conn):
        return []
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('calls')"
    ).scalars()
    days = []
    for name in names:
        found = _NAME.fullmatch(str(name))
        if found:
            days.append(datetime.strptime(found.group(1), "%Y%m%d").date())
    return sorted(days)


def ensure_ahead(conn: Connection, today: date, *, ahead: int = DAYS_AHEAD) -> list[date]:
    """Create the partitions of ``today`` and the ``ahead`` days after it; returns those made.

    Run it in its own transaction (creating a partition locks ``calls`` briefly).
    """
    if not is_partitioned(conn):
        return []
    wanted = [today + timedelta(days=i) for i in range(ahead + 1)]
    return _create_missing(conn, wanted)


def _create_missing(conn: Connection, days: Iterable[date]) -> list[date]:
    have = set(partition_days(conn))
    made = []
    for day in sorted(set(days) - have):
        conn.exec_driver_sql(create_sql(day))
        made.append(day)
    return made


def missing_days(conn: Connection, days: Iterable[date]) -> list[date]:
    """Which of ``days`` have no partition yet (one catalog query)."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    found = conn.exec_driver_sql(
        "SELECT n FROM unnest(%(names)s::text[]) AS n WHERE to_regclass(n) IS NULL",
        {"names": [partition_name(d) for d in wanted]},
    ).scalars()
    absent = set(found)
    return [d for d in wanted if partition_name(d) in absent]


def ensure_days(conn: Connection, days: Iterable[date]) -> None:
    """Make sure every day of ``days`` has a partition before an ingest writes into it.

    The partitions are created on a separate connection in a short transaction of their own
    (with a lock timeout), so the ingest's transaction never holds the exclusive lock that
    creating a partition takes on ``calls``. Two replicas creating the same day race
    harmlessly (``IF NOT EXISTS``; a duplicate-object error from the race is ignored when the
    partition is there afterwards). A transaction that already holds a lock on ``calls`` (it
    wrote calls before) creates them itself instead: a side transaction would wait on it.
    """
    if not is_partitioned(conn):
        return
    missing = missing_days(conn, days)
    if not missing:
        return
    holds = conn.exec_driver_sql(
        "SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() "
        "AND relation = to_regclass('calls') AND granted"
    ).first()
    if holds is not None:  # this transaction wrote calls already: a side one would wait on it
        _create_missing(conn, missing)
        return
    with conn.engine.connect() as side:
        for day in missing:
            try:
                with side.begin():
                    side.exec_driver_sql(f"SET LOCAL lock_timeout = {_LOCK_TIMEOUT_MS}")
                    side.exec_driver_sql(create_sql(day))
            except DBAPIError:
                if missing_days(side, [day]):
                    raise


STATS_GROWTH: Final = 2
"""A day partition is analyzed again once it has this many times the pages its statistics saw."""
STATS_MIN_PAGES: Final = 8
"""Below this many pages (64 KB, about a hundred calls) a partition is not analyzed."""


def analyze_grown(conn: Connection, days: Iterable[date]) -> list[str]:
    """``ANALYZE`` the partitions of ``days`` that grew :data:`STATS_GROWTH`-fold since their
    statistics were taken (or never had any); returns their names.

    A new day's partition fills faster than autovacuum analyzes it (it looks once a minute at
    best). Until then the planner takes it for nearly empty and checks ingest's duplicate probe
    (``id = ANY (...)``) against each of its rows instead of looking the ids up in its key
    index: rows x batch comparisons, 0.5-1.5 s a batch at 10,000-30,000 rows where the lookup
    takes a few ms. Analyzing on every doubling keeps the estimate within 2x, with a few
    analyses per partition and day (each samples at most 30,000 rows). ``SKIP_LOCKED``: a
    partition another transaction is analyzing is left to it, never waited for.
    """
    wanted = sorted({partition_name(d) for d in days})
    if not wanted or not is_partitioned(conn):
        return []
    grown = (
        conn.exec_driver_sql(
            "SELECT n FROM unnest(%(names)s::text[]) AS n JOIN pg_class c ON c.oid = to_regclass(n) "
            "WHERE pg_relation_size(c.oid) / current_setting('block_size')::int "
            ">= greatest(%(least)s, %(growth)s * c.relpages)",
            {"names": wanted, "least": STATS_MIN_PAGES, "growth": STATS_GROWTH},
        )
        .scalars()
        .all()
    )
    for name in grown:
        conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {name}")
    return [str(name) for name in grown]


def drop_before(conn: Connection, cutoff: datetime) -> int:
    """Drop every partition whose whole day is before ``cutoff``; returns the rows they held.

    The count is exact (one count per dropped partition, once a day per partition).
    """
    removed = 0
    for day in partition_days(conn):
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if end > cutoff:
            break
        name = partition_name(day)
        removed += int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one())
        conn.exec_driver_sql(f"DROP TABLE {name}")
    return removed
