"""Releases, their history and looks; webhooks and their deliveries.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-15
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128


def _json() -> sa.types.TypeEngine[Any]:
    # TEXT on SQLite: a column declared JSON gets NUMERIC affinity there and mangles numbers.
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _autoid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("baseline_version", sa.Integer(), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("steps", _json(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight_bps", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("hash_version", sa.Integer(), nullable=False),
        sa.Column("unit_attribute", sa.String(NAME), nullable=False),
        sa.Column("targeting", _json(), nullable=True),
        sa.Column("guardrails", _json(), nullable=True),
        sa.Column("auto_rollback", sa.Boolean(), nullable=False),
        sa.Column("flags", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("step_started_at", _ts(), nullable=False),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("active_label", sa.String(2 * NAME + 1), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_releases"),
        sa.ForeignKeyConstraint(
            ["project", "prompt"],
            ["prompts.project", "prompts.name"],
            name="fk_releases_project_prompt_prompts",
        ),
        sa.UniqueConstraint("project", "active_label", name="uq_releases_project_active_label"),
    )
    op.create_index("ix_releases_project_state", "releases", ["project", "state"])
    op.create_index("ix_releases_project_prompt_label", "releases", ["project", "prompt", "label"])
    op.create_table(
        "release_history",
        sa.Column("id", _autoid(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight_bps", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_release_history"),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name="fk_release_history_release_id_releases"
        ),
    )
    op.create_index("ix_release_history_release_id_id", "release_history", ["release_id", "id"])
    op.create_table(
        "release_looks",
        sa.Column("id", _autoid(), autoincrement=True, nullable=False),
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("weight_bps", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_release_looks"),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name="fk_release_looks_release_id_releases"
        ),
    )
    op.create_index("ix_release_looks_release_id_id", "release_looks", ["release_id", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", _json(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_webhooks_project_projects"
        ),
    )
    op.create_index("ix_webhooks_project", "webhooks", ["project"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _autoid(), autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", _json(), nullable=False),
        sa.Column("next_attempt_at", _ts(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("delivered_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name="fk_webhook_deliveries_webhook_id_webhooks"
        ),
        sa.UniqueConstraint(
            "webhook_id", "event_seq", name="uq_webhook_deliveries_webhook_id_event_seq"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_state_next_attempt_at",
        "webhook_deliveries",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_state_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_webhooks_project", table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index("ix_release_looks_release_id_id", table_name="release_looks")
    op.drop_table("release_looks")
    op.drop_index("ix_release_history_release_id_id", table_name="release_history")
    op.drop_table("release_history")
    op.drop_index("ix_releases_project_prompt_label", table_name="releases")
    op.drop_index("ix_releases_project_state", table_name="releases")
    op.drop_table("releases")
