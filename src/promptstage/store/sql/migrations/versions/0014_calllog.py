"""The call log at scale: day partitions of ``calls`` on Postgres, per-minute rollups.

Postgres: ``calls`` becomes ``PARTITION BY RANGE (at)`` with one partition per UTC day
(``calls_pYYYYMMDD``), its primary key ``(id, at)`` (a partitioned table's unique keys must
hold the partition key; ingest still refuses a second record with a stored id). The existing
rows are copied into the new table (partitions made for every day they cover, and a few days
ahead), then the old table is dropped. SQLite keeps its plain table.

Both: ``call_rollups``, per (project, release, arm, unit, minute) sums of the unit-keyed calls
of releases, filled here from the calls already stored.

Hand-written and frozen: every type is spelled out here, and the partition DDL is inlined.

Revision ID: 0014_calllog
Revises: 0013_deps
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0014_calllog"
down_revision: str | None = "0013_deps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_calls_project_prompt_version_at", "project, prompt, version, at"),
    ("ix_calls_project_release_id_arm", "project, release_id, arm"),
    ("ix_calls_project_at", "project, at"),
)
_DAYS_AHEAD = 3


def _partition_sql(day: date) -> str:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (
        f"CREATE TABLE IF NOT EXISTS calls_p{day:%Y%m%d} PARTITION OF calls "
        f"FOR VALUES FROM ('{start.isoformat()}') "
        f"TO ('{(start + timedelta(days=1)).isoformat()}')"
    )


def _rename_old(suffix: str) -> None:
    op.execute(f"ALTER TABLE calls RENAME TO calls{suffix}")
    op.execute(f"ALTER TABLE calls{suffix} RENAME CONSTRAINT pk_calls TO pk_calls{suffix}")
    op.execute(
        f"ALTER TABLE calls{suffix} RENAME CONSTRAINT fk_calls_project_projects "
        f"TO fk_calls_project_projects{suffix}"
    )
    for name, _ in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}{suffix}")


def _keys(primary: str) -> None:
    op.execute(f"ALTER TABLE calls ADD CONSTRAINT pk_calls PRIMARY KEY ({primary})")
    op.execute(
        "ALTER TABLE calls ADD CONSTRAINT fk_calls_project_projects "
        "FOREIGN KEY (project) REFERENCES projects (name)"
    )
    for name, columns in _INDEXES:
        op.execute(f"CREATE INDEX {name} ON calls ({columns})")


def _partition_calls() -> None:
    bind = op.get_bind()
    _rename_old("_unpartitioned")
    op.execute(
        "CREATE TABLE calls (LIKE calls_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (at)"
    )
    _keys("id, at")
    today = datetime.now(UTC).date()
    first = bind.exec_driver_sql(
        "SELECT min(at AT TIME ZONE 'UTC')::date FROM calls_unpartitioned"
    ).scalar()
    days = {today + timedelta(days=i) for i in range(_DAYS_AHEAD + 1)}
    if first is not None:
        last = bind.exec_driver_sql(
            "SELECT max(at AT TIME ZONE 'UTC')::date FROM calls_unpartitioned"
        ).scalar_one()
        days |= {first + timedelta(days=i) for i in range((last - first).days + 1)}
    for day in sorted(days):
        op.execute(_partition_sql(day))
    op.execute("INSERT INTO calls SELECT * FROM calls_unpartitioned")
    op.execute("DROP TABLE calls_unpartitioned")


def _unpartition_calls() -> None:
    _rename_old("_partitioned")
    op.execute("CREATE TABLE calls (LIKE calls_partitioned INCLUDING DEFAULTS)")
    _keys("id")
    # ids are unique per (id, at) in the partitioned table; keep the first of a rare duplicate
    op.execute("INSERT INTO calls SELECT DISTINCT ON (id) * FROM calls_partitioned ORDER BY id, at")
    op.execute("DROP TABLE calls_partitioned")


_ROLLUP_FILL = """
INSERT INTO call_rollups (project, release_id, arm, unit_hash, minute, n, errors, n_lat, lat,
                          lat_sq, n_cost, cost, cost_sq)
SELECT project, release_id, arm, unit_hash, {minute}, count(*),
       sum(CASE WHEN error IS NULL THEN 0 ELSE 1 END), count(latency_ms),
       coalesce(sum(latency_ms), 0), coalesce(sum(latency_ms * latency_ms), 0), count(cost),
       coalesce(sum(cost), 0), coalesce(sum(cost * cost), 0)
FROM calls
WHERE release_id IS NOT NULL AND unit_hash IS NOT NULL
GROUP BY project, release_id, arm, unit_hash, {minute}
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _partition_calls()
    op.create_table(
        "call_rollups",
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("unit_hash", sa.String(80), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("n_lat", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lat_sq", sa.Float(), nullable=False),
        sa.Column("n_cost", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("cost_sq", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "project", "release_id", "arm", "unit_hash", "minute", name="pk_call_rollups"
        ),
    )
    op.create_index("ix_call_rollups_minute", "call_rollups", ["minute"])
    minute = (
        "date_trunc('minute', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        if postgres
        # SQLite stores naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'
        else "substr(at, 1, 17) || '00.000000'"
    )
    op.execute(_ROLLUP_FILL.format(minute=minute))


def downgrade() -> None:
    op.drop_index("ix_call_rollups_minute", table_name="call_rollups")
    op.drop_table("call_rollups")
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_calls()
