"""The evaluation gate and static check policies of a project.

One nullable JSON column on ``projects``: ``{"gate": {...}, "static": {...}}`` as
``domain.governance.ProjectSettings`` holds them (``null``, or a key absent: the defaults,
docs/evals.md). No existing row changes: every project keeps the default gate.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def upgrade() -> None:
    op.add_column("projects", sa.Column("eval_policy", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("eval_policy")
