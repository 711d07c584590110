"""Migration 0003: on Postgres the audit table refuses UPDATE/DELETE, and non-owner roles lose
those privileges; on SQLite nothing changes (documented in docs/audit.md)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from promptstage.service import audit as audit_svc
from promptstage.service import labels
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from promptstage.store.sql.migrate import alembic_config
from support import audit as audit_helpers
from support.audit import PROJECT, TRIGGER, populate

# The audit fixtures (tests/support/audit.py), resolved here before this folder's conftest.
audit_postgres_url = audit_helpers.audit_postgres_url
database_url = audit_helpers.database_url
store = audit_helpers.store
ctx = audit_helpers.ctx
signing_key = audit_helpers.signing_key
make_api = audit_helpers.make_api

pytestmark = pytest.mark.postgres


def _migrate(engine: Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def pg_engine(make_postgres_database: Callable[[], str]) -> Iterator[Engine]:
    engine = create_engine(make_postgres_database(), poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def roles(pg_engine: Engine) -> Iterator[tuple[str, str]]:
    """A table-owner role and an application role, dropped after the test."""
    suffix = secrets.token_hex(4)
    owner, app = f"ps_owner_{suffix}", f"ps_app_{suffix}"
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {owner} NOLOGIN")
        connection.exec_driver_sql(f"CREATE ROLE {app} NOLOGIN")
    yield owner, app
    with pg_engine.begin() as connection:
        for role in (app, owner):
            connection.exec_driver_sql(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_update_and_delete_through_the_app_connection_fail(ctx: Context, store: SqlStore) -> None:
    populate(ctx)
    for statement in (
        f"UPDATE audit SET reason = 'x' WHERE project = '{PROJECT}' AND seq = 2",
        f"DELETE FROM audit WHERE project = '{PROJECT}' AND seq = 2",
    ):
        with (
            pytest.raises(DBAPIError, match="audit rows are append-only"),
            store.engine.begin() as connection,
        ):
            connection.exec_driver_sql(statement)
    labels.move_label(ctx, "key:test", PROJECT, "greet", "staging", 1)  # appends still work
    report = audit_svc.verify(ctx, PROJECT)
    assert (report.ok, report.checked) == (True, 9)


def test_non_owner_roles_lose_update_delete_truncate_and_downgrade_drops_the_trigger(
    pg_engine: Engine, roles: tuple[str, str]
) -> None:
    owner, app = roles
    _migrate(pg_engine, "0002")
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE audit OWNER TO {owner}")
        connection.exec_driver_sql(f"GRANT ALL ON audit, projects TO {app}")
    _migrate(pg_engine, "head")  # run by a superuser that is not the owner

    def allowed(role: str, privilege: str) -> bool:
        with pg_engine.connect() as connection:
            query = text("SELECT has_table_privilege(:role, 'audit', :privilege)")
            return bool(connection.execute(query, {"role": role, "privilege": privilege}).scalar())

    for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
        assert not allowed(app, privilege), privilege
        assert allowed(owner, privilege), privilege  # the owner keeps them; the trigger binds it
    assert allowed(app, "SELECT") and allowed(app, "INSERT")
    with pg_engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO projects VALUES ('p', '', now(), 0, 0, NULL)")
    with (
        pytest.raises(DBAPIError, match="permission denied for table audit"),
        pg_engine.begin() as connection,
    ):
        connection.exec_driver_sql(f"SET ROLE {app}")
        connection.exec_driver_sql("DELETE FROM audit")

    trigger = f"SELECT count(*) FROM pg_trigger WHERE tgname = '{TRIGGER}'"
    with pg_engine.connect() as connection:
        assert connection.exec_driver_sql(trigger).scalar() == 1
    _migrate(pg_engine, "0002", down=True)
    with pg_engine.connect() as connection:
        assert connection.exec_driver_sql(trigger).scalar() == 0
