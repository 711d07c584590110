"""Releases: what a step without enough data does at its bake deadline.

``on_insufficient_data`` is ``rollback`` or ``pause``; every existing release gets
``rollback`` through the column default, the same as a release started afterwards without the
field. Nothing else changes: the deadline itself is computed from the step's stored
``step_started_at`` and the database's clock, never stored.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "releases",
        sa.Column(
            "on_insufficient_data",
            sa.String(16),
            nullable=False,
            server_default="rollback",
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("on_insufficient_data")
