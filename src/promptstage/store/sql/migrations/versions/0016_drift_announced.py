"""``dep_drift.announced_at``: when the ``deps.drift`` event of a mismatch was written.

A mismatch seen for the first time is stored with the batch of calls that reported it; its
event is written in a second transaction, and a server that stops in between left it without
one for good. Now the row stays ``NULL`` until an announcement claims it (in the transaction
that writes the event), and a periodic pass announces what is left. The rows already stored are
taken as announced (their events, if any, cannot be told apart any more).

Hand-written and frozen.

Revision ID: 0016_drift_announced
Revises: 0015_rollup_fillfactor
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_drift_announced"
down_revision: str | None = "0015_rollup_fillfactor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dep_drift", sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dep_drift SET announced_at = first_at")


def downgrade() -> None:
    with op.batch_alter_table("dep_drift") as batch:
        batch.drop_column("announced_at")
