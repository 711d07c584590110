"""The dependency catalog, drift counts, and what a call reports it ran on.

Two new tables: ``dep_entries`` holds each immutable, digested version of a project's tools,
retrieval indexes, models and post-processing rule sets (``retires_on``: a model's announced
retirement date, set later, not covered by the digest); ``dep_drift`` counts the calls whose
reported model, index or tools differ from what their version pinned, per (prompt, version,
label, kind, observed). ``releases`` gains ``on_drift`` (existing releases: ``hold``).
``calls`` gains ``index_used`` and ``tools_used`` (NULL for existing
rows: nothing was reported).

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0013_deps
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_deps"
down_revision: str | None = "0012"
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
    return sa.JSON().with_variant(sa.Text(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("calls", sa.Column("index_used", sa.Text(), nullable=True))
    op.add_column(
        "releases",
        sa.Column("on_drift", sa.String(16), nullable=False, server_default="hold"),
    )
    op.add_column("calls", sa.Column("tools_used", _json(), nullable=True))
    op.create_table(
        "dep_entries",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(HASH), nullable=False),
        sa.Column("body", _exact_json(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("retires_on", sa.String(10), nullable=True),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_dep_entries_project_projects"
        ),
        sa.PrimaryKeyConstraint("project", "kind", "name", "version", name="pk_dep_entries"),
    )
    op.create_table(
        "dep_drift",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(NAME), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("observed", sa.String(256), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_at", _ts(), nullable=False),
        sa.Column("last_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_dep_drift_project_projects"
        ),
        sa.PrimaryKeyConstraint(
            "project", "prompt", "version", "label", "kind", "observed", name="pk_dep_drift"
        ),
    )


def downgrade() -> None:
    op.drop_table("dep_drift")
    op.drop_table("dep_entries")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("on_drift")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("tools_used")
        batch.drop_column("index_used")
