"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class JsonText(TypeDecorator[Any]):
    """JSON in a ``TEXT`` column, for SQLite.

    SQLAlchemy's SQLite ``JSON`` declares the column ``JSON``, which SQLite gives NUMERIC
    affinity: a top-level ``0.0`` or ``1e+16`` is then stored as the integer ``0`` or
    ``10000000000000000``. ``TEXT`` affinity stores exactly the text written.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str:
        """Serialize; ``None`` becomes JSON ``null`` as it does on Postgres."""
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Parse; an SQL ``NULL`` reads as ``None``."""
        return None if value is None else json.loads(value)


# JSONB on Postgres (indexable, compact); exact text on SQLite.
Json: TypeEngine[Any] = (
    JSON().with_variant(JSONB(), "postgresql").with_variant(JsonText(), "sqlite")
)

# Plain ``json`` on Postgres: it keeps the text exactly as written. JSONB re-spells numbers
# (1e16 comes back as the integer 10000000000000000, -0.0 as 0.0), which would change the
# canonical JSON of a version (the SDK rejects its digest) or of an audit row (verification
# reports tampering). So columns covered by a digest or the audit hash use this type.
ExactJson: TypeEngine[Any] = JSON().with_variant(JsonText(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp with microseconds, whatever the backend stores.

    Postgres keeps ``timestamptz``; SQLite keeps naive UTC text with six fractional digits.
    Both read back as aware UTC datetimes equal to what was written, which the audit chain
    relies on: its hash covers the ISO timestamp, so a round trip must be exact.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalize to UTC; refuse naive values rather than guess their zone."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite's DATETIME text has no zone; storing UTC naive keeps ordering correct.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes on every backend."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
