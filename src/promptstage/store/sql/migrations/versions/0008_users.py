"""Users of the admin UI: passwords, roles per project and server-side sessions.

Three new tables; no existing row changes. ``user_credentials`` holds one argon2id hash per
principal name (instance-wide), ``memberships`` the role a name holds in a project, and
``ui_sessions`` each session under the SHA-256 of its token (the token is never stored).

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128
HASH = 80


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_credentials",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("password_changed_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_user_credentials"),
    )
    op.create_table(
        "memberships",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_memberships_project_projects"
        ),
        sa.PrimaryKeyConstraint("project", "name", name="pk_memberships"),
    )
    op.create_index("ix_memberships_name", "memberships", ["name"])
    op.create_table(
        "ui_sessions",
        sa.Column("key", sa.String(HASH), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("last_seen_at", _ts(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_ui_sessions"),
    )
    op.create_index("ix_ui_sessions_name", "ui_sessions", ["name"])
    op.create_index("ix_ui_sessions_expires_at", "ui_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_ui_sessions_expires_at", table_name="ui_sessions")
    op.drop_index("ix_ui_sessions_name", table_name="ui_sessions")
    op.drop_table("ui_sessions")
    op.drop_index("ix_memberships_name", table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("user_credentials")
