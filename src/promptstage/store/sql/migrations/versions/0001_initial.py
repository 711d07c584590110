"""Initial schema: projects, prompts, versions, labels, audit, events, keys, calls, scores.

Hand-written and frozen: it must keep building the same schema after ``tables.py`` moves on,
so it spells every type out instead of importing them.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128
HASH = 80


def _json() -> sa.types.TypeEngine[Any]:
    # TEXT on SQLite: a column declared JSON gets NUMERIC affinity there and mangles numbers.
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def _exact_json() -> sa.types.TypeEngine[Any]:
    # json, not jsonb, on Postgres: digests and the audit hash need the exact text back.
    return sa.JSON().with_variant(sa.Text(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _autoid() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("audit_head", sa.String(HASH), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_projects"),
    )
    op.create_table(
        "prompts",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project", "name", name="pk_prompts"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_prompts_project_projects"),
    )
    op.create_table(
        "versions",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(HASH), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("template", _exact_json(), nullable=False),
        sa.Column("variables", _exact_json(), nullable=False),
        sa.Column("config", _exact_json(), nullable=False),
        sa.Column("includes", _exact_json(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("project", "prompt", "number", name="pk_versions"),
        sa.ForeignKeyConstraint(
            ["project", "prompt"],
            ["prompts.project", "prompts.name"],
            name="fk_versions_project_prompt_prompts",
        ),
    )
    op.create_index(
        "ix_versions_project_prompt_digest", "versions", ["project", "prompt", "digest"]
    )
    op.create_table(
        "labels",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("project", "prompt", "label", name="pk_labels"),
        sa.ForeignKeyConstraint(
            ["project", "prompt", "version"],
            ["versions.project", "versions.prompt", "versions.number"],
            name="fk_labels_project_prompt_version_versions",
        ),
    )
    op.create_table(
        "label_moves",
        sa.Column("id", _autoid(), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("previous", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_label_moves"),
        sa.ForeignKeyConstraint(
            ["project", "prompt"],
            ["prompts.project", "prompts.name"],
            name="fk_label_moves_project_prompt_prompts",
        ),
    )
    op.create_index(
        "ix_label_moves_project_prompt_label_id",
        "label_moves",
        ["project", "prompt", "label", "id"],
    )
    op.create_table(
        "audit",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("before", _exact_json(), nullable=True),
        sa.Column("after", _exact_json(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(HASH), nullable=False),
        sa.Column("hash", sa.String(HASH), nullable=False),
        sa.PrimaryKeyConstraint("project", "seq", name="pk_audit"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_audit_project_projects"),
    )
    op.create_table(
        "events",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("project", "seq", name="pk_events"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_events_project_projects"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=True),
        sa.Column("prefix", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_api_keys_project_projects"
        ),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_index("ix_api_keys_project", "api_keys", ["project"])
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(HASH), nullable=False),
        sa.Column("release_id", sa.String(64), nullable=True),
        sa.Column("arm", sa.String(32), nullable=False),
        sa.Column("unit_hash", sa.String(HASH), nullable=True),
        sa.Column("context", _json(), nullable=False),
        sa.Column("variables", _json(), nullable=True),
        sa.Column("output", _json(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_calls_project_projects"),
    )
    op.create_index(
        "ix_calls_project_prompt_version_at", "calls", ["project", "prompt", "version", "at"]
    )
    op.create_index("ix_calls_project_release_id_arm", "calls", ["project", "release_id", "arm"])
    op.create_index("ix_calls_project_at", "calls", ["project", "at"])
    op.create_table(
        "scores",
        sa.Column("id", _autoid(), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.ForeignKeyConstraint(["project"], ["projects.name"], name="fk_scores_project_projects"),
    )
    op.create_index("ix_scores_project_call_id", "scores", ["project", "call_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_scores_project_call_id", "scores"),
        ("ix_calls_project_at", "calls"),
        ("ix_calls_project_release_id_arm", "calls"),
        ("ix_calls_project_prompt_version_at", "calls"),
        ("ix_api_keys_project", "api_keys"),
        ("ix_label_moves_project_prompt_label_id", "label_moves"),
        ("ix_versions_project_prompt_digest", "versions"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "scores", "calls", "api_keys", "events", "audit", "label_moves", "labels", "versions",
        "prompts", "projects",
    ):  # fmt: skip
        op.drop_table(table)
