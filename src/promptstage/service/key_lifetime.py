"""When keys stop working: optional expiry, a project's maximum lifetime, the clock leeway.

Expiry is judged by the server's clock, the one that stamps every write (``Context.clock``),
never by the caller's. ``EXPIRY_LEEWAY`` absorbs the skew between replicas: a key is refused
from ``expires_at + EXPIRY_LEEWAY`` on, on every replica, whatever the cache holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import ApiKey, iso_utc
from promptstage.domain.principals import PrincipalKind
from promptstage.errors import AuthenticationError, InvalidInputError

EXPIRY_LEEWAY = timedelta(seconds=5)
MAX_LIFETIME_DAYS = 3650
MAX_GRACE_SECONDS = 30 * 24 * 3600
DEFAULT_GRACE_SECONDS = 3600


def max_key_lifetime(value: Any) -> int | None:
    """Validate the ``max_key_lifetime_days`` project setting (``None``: no limit).

    Raises:
        InvalidInputError: naming ``max_key_lifetime_days``.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIFETIME_DAYS:
        raise InvalidInputError(
            f"max_key_lifetime_days must be a whole number of days from 1 to {MAX_LIFETIME_DAYS}, "
            "or null for no limit",
            field="max_key_lifetime_days",
        )
    return value


def parse_expiry(value: Any, field: str = "expires_at") -> datetime | None:
    """An ISO-8601 time with a time zone, or ``None``.

    Raises:
        InvalidInputError: naming ``field``.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInputError(
            f"{field} must be an ISO-8601 time with a time zone, e.g. 2026-06-30T00:00:00Z; "
            f"got {value!r}",
            field=field,
        )
    return parsed


def key_expiry(
    settings: ProjectSettings,
    kind: PrincipalKind,
    requested: datetime | None,
    now: datetime,
    field: str = "expires_at",
) -> datetime | None:
    """The ``expires_at`` a new key gets: the one requested, bounded by the project's maximum.

    A person's key in a project with ``max_key_lifetime_days`` expires at that maximum when no
    expiry is asked for; service accounts are not bound by it.

    Raises:
        InvalidInputError: naming ``field``, when it is not in the future or beyond the maximum.
    """
    if requested is not None and requested <= now:
        raise InvalidInputError(
            f"{field} must be in the future (the server's clock reads {iso_utc(now)})",
            field=field,
        )
    days = settings.max_key_lifetime_days
    if days is None or kind is PrincipalKind.service:
        return requested
    limit = now + timedelta(days=days)
    if requested is None:
        return limit
    if requested > limit:
        raise InvalidInputError(
            f"{field} is beyond this project's maximum key lifetime of {days} days "
            f"(latest allowed: {iso_utc(limit)}); pick an earlier time",
            field=field,
        )
    return requested


def check_not_expired(key: ApiKey, now: datetime) -> None:
    """Refuse a key whose ``expires_at`` (plus the leeway) has passed.

    Raises:
        AuthenticationError: saying when the key expired and what to do.
    """
    if key.expires_at is not None and now >= key.expires_at + EXPIRY_LEEWAY:
        raise AuthenticationError(
            f"API key {key.prefix} expired at {iso_utc(key.expires_at)}; ask an admin for a new "
            "one, or rotate keys before they expire",
            field="Authorization",
        )


def grace(value: Any) -> timedelta:
    """Validate a rotation's ``grace_seconds`` (``None``: the default of one hour).

    Raises:
        InvalidInputError: naming ``grace_seconds``.
    """
    if value is None:
        return timedelta(seconds=DEFAULT_GRACE_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRACE_SECONDS:
        raise InvalidInputError(
            f"grace_seconds must be a whole number from 0 to {MAX_GRACE_SECONDS} (30 days)",
            field="grace_seconds",
        )
    return timedelta(seconds=value)
