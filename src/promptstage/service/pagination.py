"""Opaque list cursors: base64url of a small JSON position, validated on the way back in."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from promptstage.errors import InvalidInputError

MAX_LIMIT = 500


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def encode_cursor(position: Any) -> str:
    raw = json.dumps({"p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type, *, maximum: int = 2**63 - 1) -> Any:
    """The position inside ``cursor``, or ``None`` for the first page (integer positions must
    lie in ``0..maximum``, the range the store's column holds; text must be storable)."""
    if cursor is None or cursor == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)["p"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        position = None
    if (
        not isinstance(position, kind)
        or isinstance(position, bool)
        or (isinstance(position, int) and not 0 <= position <= maximum)
        or (isinstance(position, str) and not _storable(position))
    ):
        raise InvalidInputError(
            "cursor is not valid: pass back the next_cursor of the previous page unchanged",
            field="cursor",
        )
    return position


def _storable(text: str) -> bool:
    """No NUL (Postgres refuses it) and no lone surrogate (not encodable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def decode_time_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The ``(time, id)`` position of a list ordered newest first, or ``None`` for page one."""
    position = decode_cursor(cursor, list)
    if position is None:
        return None
    try:
        at: datetime | None = datetime.fromisoformat(str(position[0]).replace("Z", "+00:00"))
        key = position[1]
    except (IndexError, ValueError):
        at, key = None, None
    if at is None or at.tzinfo is None or not isinstance(key, str):
        raise InvalidInputError(
            "cursor is not valid: pass back the next_cursor of the previous page unchanged",
            field="cursor",
        )
    return at, key


def page(items: list[Any], limit: int, position_of: Any) -> tuple[list[Any], str | None]:
    """Cut a list fetched with ``limit + 1`` rows into a page and the cursor of the next one."""
    if len(items) > limit:
        items = items[:limit]
        return items, encode_cursor(position_of(items[-1]))
    return items, None


def utc_bound(value: datetime | None) -> datetime | None:
    """A time bound of a filter; one without an offset means UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
