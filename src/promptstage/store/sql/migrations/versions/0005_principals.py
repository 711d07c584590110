"""Principals: every API key belongs to a named person or service account; keys can expire.

Every existing key gets a principal of its own named ``key:<prefix>``, a person (keys could
approve before principals existed, and still can). That name is the actor the audit trail has
always recorded for the key, so old audit rows, change requests and version authors stay
attributed to the same principal; no stored row is rewritten. ``max_key_lifetime_days`` starts
empty (no limit) on every project, and no existing key gets an expiry.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-02-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("projects", sa.Column("max_key_lifetime_days", sa.Integer(), nullable=True))
    op.create_table(
        "principals",
        sa.Column("id", sa.String(256), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_principals_project_projects"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_principals"),
    )
    op.create_index("ix_principals_project", "principals", ["project"])
    op.add_column("api_keys", sa.Column("principal", sa.Text(), nullable=True))
    op.add_column("api_keys", sa.Column("expires_at", _ts(), nullable=True))
    # One principal per existing key, named after it (the actor its audit rows already show).
    op.execute(
        "INSERT INTO principals (id, project, name, kind, created_at, created_by) "
        "SELECT COALESCE(project, '') || '/key:' || prefix, project, 'key:' || prefix, "
        "'person', created_at, 'system:migration-0005' FROM api_keys"
    )
    op.execute("UPDATE api_keys SET principal = 'key:' || prefix")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("principal", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("principal")
    op.drop_index("ix_principals_project", table_name="principals")
    op.drop_table("principals")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("max_key_lifetime_days")
