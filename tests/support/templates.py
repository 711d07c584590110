"""Per-test migrated databases without a migration per test (``tests/conftest.py`` holds the
session fixtures): SQLite copies the session's migrated template file; Postgres empties the
session's migrated database (creating one costs a migration, dropping it a checkpoint)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from promptstage.store.sql.tables import metadata


def fresh_migrated_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """A migrated database of ``backend`` holding nothing, for one test."""
    if backend == "sqlite":
        path = directory / "promptstage.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("shared_migrated_postgres_url")
    names = ", ".join(table.name for table in metadata.sorted_tables)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return url
