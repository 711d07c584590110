"""The SQLAlchemy storage: SQLite (embedded default) and Postgres (production)."""

from __future__ import annotations

from .engine import database_errors
from .migrate import upgrade_database
from .store import SqlStore

__all__ = ["SqlStore", "database_errors", "upgrade_database"]
