"""Evals: suite versions, runs and their graded cases.

Three new tables; no existing row changes. ``eval_suites`` holds each immutable, digested
version of a project's suite; ``eval_runs`` each run bound to (version digest, model snapshot,
suite digest) with its progress and the claim of the runner executing it;
``eval_case_results`` every graded case. No provider credential is stored.

Hand-written and frozen like 0001: every type is spelled out here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = 128
HASH = 80


def _json() -> sa.types.TypeEngine[Any]:
    return (
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql").with_variant(sa.Text(), "sqlite")
    )


def _exact_json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(sa.Text(), "sqlite")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _big() -> sa.types.TypeEngine[int]:
    return sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "eval_suites",
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(HASH), nullable=False),
        sa.Column("body", _exact_json(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_eval_suites_project_projects"
        ),
        sa.PrimaryKeyConstraint("project", "name", "version", name="pk_eval_suites"),
        sa.UniqueConstraint("project", "name", "digest", name="uq_eval_suites_project_name_digest"),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("project", sa.String(NAME), nullable=False),
        sa.Column("suite", sa.String(NAME), nullable=False),
        sa.Column("suite_version", sa.Integer(), nullable=False),
        sa.Column("suite_digest", sa.String(HASH), nullable=False),
        sa.Column("prompt", sa.String(NAME), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("version_digest", sa.String(HASH), nullable=False),
        sa.Column("model", _json(), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("model_snapshot", sa.String(HASH), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("passed_cases", sa.Integer(), nullable=False),
        sa.Column("failed_cases", sa.Integer(), nullable=False),
        sa.Column("error_cases", sa.Integer(), nullable=False),
        sa.Column("tokens_in", _big(), nullable=False),
        sa.Column("tokens_out", _big(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("heartbeat_at", _ts(), nullable=True),
        sa.Column("replay_id", sa.String(64), nullable=True),
        sa.Column("replay_role", sa.String(16), nullable=True),
        sa.Column("inline_suite", _exact_json(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.name"], name="fk_eval_runs_project_projects"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_project_created_at", "eval_runs", ["project", "created_at"])
    op.create_index(
        "ix_eval_runs_project_version_digest", "eval_runs", ["project", "version_digest"]
    )
    op.create_index("ix_eval_runs_status", "eval_runs", ["status"])
    op.create_index("ix_eval_runs_replay_id", "eval_runs", ["replay_id"])
    op.create_table(
        "eval_case_results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(NAME), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("request", _json(), nullable=False),
        sa.Column("response", _json(), nullable=True),
        sa.Column("assertions", _json(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("needs_judge", sa.Boolean(), nullable=False),
        sa.Column("deterministic_passed", sa.Boolean(), nullable=False),
        sa.Column("has_deterministic", sa.Boolean(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=True),
        sa.Column("tokens_out", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["eval_runs.id"], name="fk_eval_case_results_run_id_eval_runs"
        ),
        sa.PrimaryKeyConstraint("run_id", "case_id", name="pk_eval_case_results"),
    )


def downgrade() -> None:
    op.drop_table("eval_case_results")
    op.drop_index("ix_eval_runs_replay_id", table_name="eval_runs")
    op.drop_index("ix_eval_runs_status", table_name="eval_runs")
    op.drop_index("ix_eval_runs_project_version_digest", table_name="eval_runs")
    op.drop_index("ix_eval_runs_project_created_at", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("eval_suites")
