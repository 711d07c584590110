"""Webhooks: subscriptions to a project's changes and the deliveries made to them.

Signing is pure and lives here so that receivers (and tests) verify with the same code:
``X-Promptstage-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of f"{t}.{body}">``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .events import EventType

SIGNATURE_HEADER: Final = "X-Promptstage-Signature"
EVENT_HEADER: Final = "X-Promptstage-Event"
DELIVERY_HEADER: Final = "X-Promptstage-Delivery"

# What a webhook can subscribe to: outbox event types, plus the rollbacks among them.
WEBHOOK_EVENTS: Final = (
    EventType.LABEL_MOVED,
    EventType.LABEL_ROLLED_BACK,
    EventType.LABEL_DELETED,
    EventType.RELEASE_CHANGED,
    EventType.RELEASE_ROLLED_BACK,
    EventType.DEPS_DRIFT,
)

PENDING: Final = "pending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"


@dataclass(frozen=True, slots=True)
class Webhook:
    """A subscription. ``secret`` signs every delivery; the API shows it only at creation.

    ``cursor_seq`` is the last outbox event of the project already turned into deliveries.
    """

    id: str
    project: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    created_by: str
    cursor_seq: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification to one webhook and the attempts made to deliver it.

    Attributes:
        state: ``pending`` (will be tried at ``next_attempt_at``), ``delivered`` or ``failed``
            (every attempt failed).
        attempts: One ``{at, status, error, duration_ms}`` object per attempt, oldest first.
    """

    id: int
    webhook_id: str
    project: str
    event_seq: int
    event_type: str
    body: str
    state: str
    attempts: tuple[dict[str, Any], ...]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None = None


def subscriptions_of(event_type: str, data: dict[str, Any]) -> frozenset[str]:
    """The webhook event names an outbox event matches (empty: not sent to webhooks)."""
    if event_type == EventType.LABEL_MOVED:
        if data.get("kind") == "rollback":
            return frozenset({EventType.LABEL_MOVED, EventType.LABEL_ROLLED_BACK})
        return frozenset({EventType.LABEL_MOVED})
    if event_type == EventType.LABEL_DELETED:
        return frozenset({EventType.LABEL_DELETED})
    if event_type == EventType.RELEASE_CHANGED:
        release = data.get("release")
        if isinstance(release, dict) and release.get("state") == "rolled_back":
            return frozenset({EventType.RELEASE_CHANGED, EventType.RELEASE_ROLLED_BACK})
        return frozenset({EventType.RELEASE_CHANGED})
    if event_type == EventType.DEPS_DRIFT:
        return frozenset({EventType.DEPS_DRIFT})
    return frozenset()


def sign(secret: str, timestamp: int, body: str) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    """The value of ``X-Promptstage-Signature`` for a delivery."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: str, now: float, tolerance: float = 300.0) -> bool:
    """Check a signature header, as a receiver would (constant-time, timestamp within tolerance).

    Args:
        secret: The webhook's secret.
        header: The ``X-Promptstage-Signature`` value.
        body: The raw request body, decoded as UTF-8.
        now: The receiver's current Unix time.
        tolerance: Largest accepted age (or clock skew) of the timestamp, in seconds.
    """
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, mac = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, int(stamp), body), mac)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Where webhooks may point (the SSRF guard).

    ``allowed`` lists host names or IP literals (``*.example.com`` matches subdomains). When it
    is empty any host is accepted whose addresses are all public; private, loopback,
    link-local and reserved addresses are refused unless their host is listed. When it is not
    empty, only listed hosts are accepted.
    """

    allowed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, setting: str) -> HostPolicy:
        """Build from the comma-separated ``PROMPTSTAGE_WEBHOOK_ALLOWED_HOSTS`` value."""
        return cls(tuple(h.strip().lower() for h in setting.split(",") if h.strip()))

    def listed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == entry or (entry.startswith("*.") and host.endswith(entry[1:]))
            for entry in self.allowed
        )

    def check_host(self, host: str) -> str | None:
        """Why ``host`` may not be a webhook target, or ``None`` when it may (before DNS)."""
        if self.listed(host):
            return None
        if self.allowed:
            return f"host {host!r} is not in PROMPTSTAGE_WEBHOOK_ALLOWED_HOSTS"
        literal = _ip(host)
        if literal is not None and not literal.is_global:
            return f"{host} is a private, loopback or reserved address"
        return None

    def check_addresses(self, host: str, addresses: list[str]) -> str | None:
        """Why a host resolving to ``addresses`` may not be called, or ``None``."""
        if self.listed(host):
            return None
        for address in addresses:
            ip = _ip(address)
            if ip is None or not ip.is_global:
                return f"{host} resolves to {address}, a private, loopback or reserved address"
        return None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
