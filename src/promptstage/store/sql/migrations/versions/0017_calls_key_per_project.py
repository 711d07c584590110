"""``calls``: a call id is unique within its project, not across the server.

Call ids are the client's (1-64 letters, digits, ``-``, ``_``). With one key for the whole
server, a tenant who posted another tenant's ids first (``order-1234``) made that tenant's
calls be skipped as duplicates. The key now leads with the project: ``(project, id, at)`` on
Postgres (a partitioned table's key holds the partition key; the key index of every partition is
rebuilt), ``(project, id)`` on SQLite (the table is rewritten). Ingest probes for a stored id
within the batch's project (``store/sql/ingest.py``).

Downgrading restores the server-wide key and fails if two projects hold the same id by then.

Hand-written and frozen.

Revision ID: 0017_calls_key_per_project
Revises: 0016_drift_announced
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017_calls_key_per_project"
down_revision: str | None = "0016_drift_announced"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(postgres_columns: str, sqlite_columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE calls DROP CONSTRAINT pk_calls")
        op.execute(f"ALTER TABLE calls ADD CONSTRAINT pk_calls PRIMARY KEY ({postgres_columns})")
        return
    with op.batch_alter_table("calls", recreate="always") as batch:
        batch.drop_constraint("pk_calls", type_="primary")
        batch.create_primary_key("pk_calls", sqlite_columns)


def upgrade() -> None:
    _key("project, id, at", ["project", "id"])


def downgrade() -> None:
    _key("id, at", ["id"])
