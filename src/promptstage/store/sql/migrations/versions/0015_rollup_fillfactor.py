"""Postgres: ``call_rollups`` keeps 30 % of each page free (``fillfactor = 70``).

Ingest adds to a unit's rollup row many times a minute. With room on the row's page Postgres
updates it in place (a heap-only tuple: no new entries in the primary key or the minute index),
which halves the rollup upsert of a 5,000-record batch. The setting applies to pages written
from now on; ``VACUUM FULL call_rollups`` rewrites the existing ones. SQLite: nothing to do.

Hand-written and frozen.

Revision ID: 0015_rollup_fillfactor
Revises: 0014_calllog
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_rollup_fillfactor"
down_revision: str | None = "0014_calllog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE call_rollups SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE call_rollups RESET (fillfactor)")
