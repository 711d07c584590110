"""Releases: the error budget fixed when a release starts.

``error_budget`` is the JSON form of the release's
:class:`~promptstage.rollout.analysis.budget.ErrorBudget` (how the family-wise alpha is split
over its confidence sequences and fast paths). Existing releases get NULL: the controller then
uses their guardrails' own split, as before.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    # TEXT on SQLite: a column declared JSON gets NUMERIC affinity there and mangles numbers.
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def upgrade() -> None:
    op.add_column("releases", sa.Column("error_budget", _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("error_budget")
