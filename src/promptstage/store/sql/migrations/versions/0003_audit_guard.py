"""Audit guard: on PostgreSQL, the audit table refuses UPDATE and DELETE.

A trigger raises ``audit rows are append-only`` on any UPDATE or DELETE of ``audit``, whoever
runs it. Privileges: where the connected role is not the table's owner, UPDATE, DELETE and
TRUNCATE on ``audit`` are revoked from it; the same is revoked from every other role (and
PUBLIC) that was granted them, so only the owner keeps them. The owner and superusers can still
disable the trigger: signed checkpoints kept outside the database are what catch that
(docs/audit.md). Nothing changes on SQLite, where whoever can write the file can rewrite it.

Hand-written and frozen like 0001.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGER = "audit_append_only"
FUNCTION = "promptstage_audit_append_only"

_CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit rows are append-only'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'the audit trail is hash-chained; record a new row instead of changing one';
END
$$
"""

_CREATE_TRIGGER = f"""
CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON audit
FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
"""

# Revoke from every non-owner grantee, and from the connected role when it is not the owner.
# A role that may not revoke (it neither owns the table nor is a superuser) gets a warning,
# not a failed migration: the trigger still stands.
_REVOKE = """
DO $$
DECLARE
    owner_name name;
    grantee_name text;
BEGIN
    SELECT pg_get_userbyid(c.relowner) INTO owner_name
    FROM pg_class c WHERE c.oid = 'audit'::regclass;
    FOR grantee_name IN
        SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                             ELSE quote_ident(pg_get_userbyid(a.grantee)) END
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'audit'::regclass
          AND a.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
          AND a.grantee <> c.relowner
        UNION
        SELECT quote_ident(current_user::text) WHERE current_user <> owner_name
    LOOP
        BEGIN
            EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM ' || grantee_name;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'could not revoke UPDATE, DELETE, TRUNCATE on audit from %: run it as the owner (%) or a superuser',
                grantee_name, owner_name;
        END;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CREATE_FUNCTION)
    op.execute(_CREATE_TRIGGER)
    op.execute(_REVOKE)


def downgrade() -> None:
    # Privileges revoked by upgrade() are not granted back: an operator who granted them
    # deliberately can grant them again.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON audit")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
