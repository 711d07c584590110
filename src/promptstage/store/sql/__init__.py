"""The SQLAlchemy storage: SQLite (embedded default) and Postgres (production)."""

from __future__ import annotations

from .migrate import upgrade_database
from .store import SqlStore

__all__ = ["SqlStore", "upgrade_database"]
