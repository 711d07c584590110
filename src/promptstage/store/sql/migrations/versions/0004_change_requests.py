"""Governance: per-project protected labels and four-eyes switch; change requests.

Every existing project gets ``protected_labels = ["prod"]`` and ``four_eyes = true`` through
the column defaults, the same as a project created afterwards.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-25
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128
HASH = 80


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column(
            "protected_labels", _json(), nullable=False, server_default=sa.text("'[\"prod\"]'")
        ),
    )
    op.add_column(
        "projects", sa.Column("four_eyes", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.create_table(
        "change_requests",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(HASH), nullable=False),
        sa.Column("expected_version", sa.Integer(), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("decided_at", _ts(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_change_requests_project_projects"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_change_requests"),
    )
    op.create_index(
        "ix_change_requests_project_state_created_at",
        "change_requests",
        ["project", "state", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_change_requests_project_state_created_at", table_name="change_requests")
    op.drop_table("change_requests")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("four_eyes")
        batch.drop_column("protected_labels")
