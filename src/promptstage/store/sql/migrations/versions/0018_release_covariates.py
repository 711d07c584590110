"""``release_covariates``: each unit's pre-release history, taken once per release.

The variance reduction of a release's look compares each unit with its own mean over the 14
days before the release started. Read from ``calls`` on every look, that history cost a look
time in proportion to the prompt's traffic of those 14 days (a scan of millions of calls per
look on a busy prompt). The controller now takes it once, at its first pass over the release
(``releases.covariates_at`` says when; NULL: not taken), into one row per (release, metric,
unit), and drops the rows when the release is no longer active. Releases running at the upgrade
are taken at the next pass; until then, and for releases without a snapshot, the look reads
``calls`` as before.

Hand-written and frozen.

Revision ID: 0018_release_covariates
Revises: 0017_calls_key_per_project
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_release_covariates"
down_revision: str | None = "0017_calls_key_per_project"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("releases", sa.Column("covariates_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "release_covariates",
        sa.Column("release_id", sa.String(64), nullable=False),
        sa.Column("metric", sa.String(128), nullable=False),
        sa.Column("unit_hash", sa.String(80), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("release_id", "metric", "unit_hash"),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
    )


def downgrade() -> None:
    op.drop_table("release_covariates")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("covariates_at")
