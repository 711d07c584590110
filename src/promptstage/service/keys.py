"""API keys: ``ps_<prefix>_<secret>``, stored as a SHA-256 of the secret, shown once.

Keys are 256-bit random secrets, so a fast hash is enough (a slow password hash would only
slow every request); lookup is by prefix and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, NamedTuple

from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import ApiKey, Role
from promptstage.domain.principals import (
    INSTANCE_ADMIN,
    PrincipalKind,
    PrincipalRecord,
    own_principal,
)
from promptstage.domain.wire import key_json
from promptstage.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ServiceUnavailableError,
)

from . import principals
from .context import Change, Context, change
from .key_lifetime import check_not_expired, grace, key_expiry
from .prompts import require_project

TOKEN_PREFIX = "ps_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``actor`` goes into the audit trail (``alice (key:<prefix>)``, the
    principal's name beside the key's prefix); ``project`` is ``None`` for an instance-level
    key, which may act on every project."""

    actor: str
    role: Role
    project: str | None
    key_prefix: str | None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token, prefix, secret)``."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_hex(32)
    return f"{TOKEN_PREFIX}{prefix}_{secret}", prefix, secret


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "ps" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInputError(
            f"role must be one of {[r.value for r in Role]}, got {value!r}", field="role"
        ) from None


def _key_name(name: str | None) -> str:
    if name is None:
        return ""
    if not isinstance(name, str) or len(name) > 100:
        raise InvalidInputError("name must be a string of at most 100 characters", field="name")
    return name


def create_key(
    ctx: Context,
    actor: str,
    project: str,
    name: str | None,
    role: str,
    *,
    principal: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a project key issued to ``principal``; the token is returned here and never again.

    Args:
        principal: an existing principal of the project; ``None`` gives the key a principal of
            its own named ``key:<prefix>`` (a person), as every key had before principals.
        expires_at: when the key stops working; the project's ``max_key_lifetime_days`` bounds
            it (and sets it when omitted) for keys of people.

    Raises:
        InvalidInputError: naming ``role``, ``name``, ``principal`` or ``expires_at``.
        NotFoundError: the project or the principal does not exist.
    """
    key_role = _role(role)
    key_label = _key_name(name)
    if principal is not None:
        principals.principal_name(principal, "principal")
    token, prefix, secret = new_token()
    with change(ctx, project, actor) as ch:
        settings = ch.uow.project_settings(project) or ProjectSettings()
        if principal is None:
            owner = own_principal(prefix)
            principals.add_own_principal(ch, owner)
            kind = PrincipalKind.person
        else:
            found = principals.issue_to(ch, principal)
            owner, kind = found.name, found.kind
        expiry = key_expiry(settings, kind, expires_at, ch.at)
        key = ApiKey(
            prefix, project, prefix, key_label, key_role, ch.at, actor, None, owner, expiry
        )
        ch.uow.add_key(key, hash_secret(secret))
        _audit_key(ch, AuditAction.KEY_CREATE, key, before=None)
    return key, token


def rotate_key(
    ctx: Context,
    actor: str,
    project: str,
    prefix: str,
    *,
    grace_seconds: Any = None,
    expires_at: datetime | None = None,
    authenticator: Authenticator | None = None,
) -> tuple[ApiKey, str, ApiKey]:
    """Issue a successor of a key (same principal, role and name) and retire the old one.

    The old key keeps working for ``grace_seconds`` (default one hour; ``0`` revokes it at
    once), so deployments can switch to the successor without an outage.

    Returns:
        ``(successor, its token, the old key as it now stands)``.

    Raises:
        InvalidInputError: naming ``grace_seconds`` or ``expires_at``.
        NotFoundError: the project has no such key.
        ConflictError: the key is revoked or expired already.
    """
    wait = grace(grace_seconds)
    token, new_prefix, secret = new_token()
    with change(ctx, project, actor) as ch:
        old = _project_key(ch, project, prefix)
        if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= ch.at):
            raise ConflictError(
                f"key {prefix} is revoked or expired: create a new key instead of rotating it",
                field="prefix",
            )
        settings = ch.uow.project_settings(project) or ProjectSettings()
        found = ch.uow.get_principal(project, old.principal)
        kind = found.kind if found is not None else PrincipalKind.person
        if expires_at is None and old.expires_at is not None:
            expires_at = ch.at + (old.expires_at - old.created_at)  # the same lifetime again
        expiry = key_expiry(settings, kind, expires_at, ch.at)
        successor = ApiKey(
            new_prefix, project, new_prefix, old.name, old.role, ch.at, actor, None,
            old.principal, expiry,
        )  # fmt: skip
        ch.uow.add_key(successor, hash_secret(secret))
        _audit_key(ch, AuditAction.KEY_CREATE, successor, before=None)
        if wait:
            until = ch.at + wait
            if old.expires_at is not None and old.expires_at < until:
                until = old.expires_at
            ch.uow.set_key_expiry(prefix, until)
            retired = replace(old, expires_at=until)
        else:
            ch.uow.revoke_key(prefix, ch.at)
            retired = replace(old, revoked_at=ch.at)
        revoked = outbox_event(EventType.KEY_REVOKED, {"prefix": prefix, "role": old.role.value})
        ch.record(
            AuditAction.KEY_ROTATE,
            f"key:{prefix}",
            before=key_json(old),
            after={**key_json(retired), "successor": new_prefix},
            event=None if wait else revoked,  # streams of a key revoked at once close now
        )
    if authenticator is not None:
        authenticator.forget(prefix)
    return successor, token, retired


def _project_key(ch: Change, project: str, prefix: str) -> ApiKey:
    """The key ``prefix`` of ``project``, or ``NotFoundError`` naming ``prefix``."""
    found = ch.uow.get_key(prefix)
    if found is None or found[0].project != project:
        raise NotFoundError(f"project {project!r} has no key {prefix!r}", field="prefix")
    return found[0]


_KeyEvent = Literal[EventType.KEY_CREATED, EventType.KEY_REVOKED]
_KEY_EVENTS: dict[AuditAction, _KeyEvent] = {
    AuditAction.KEY_CREATE: EventType.KEY_CREATED,
    AuditAction.KEY_REVOKE: EventType.KEY_REVOKED,
}


def _audit_key(
    ch: Change,
    action: Literal[AuditAction.KEY_CREATE, AuditAction.KEY_REVOKE],
    key: ApiKey,
    before: object,
) -> None:
    event = outbox_event(_KEY_EVENTS[action], {"prefix": key.prefix, "role": key.role.value})
    ch.record(action, f"key:{key.prefix}", before=before, after=key_json(key), event=event)


def create_instance_key(ctx: Context, name: str) -> str:
    """Create an instance admin key (used on the first start of an empty database)."""
    token, prefix, secret = new_token()
    at = ctx.clock()
    owner = own_principal(prefix)
    with ctx.store.unit_of_work(write=True) as uow:
        uow.add_principal(
            PrincipalRecord(None, owner, PrincipalKind.person, at, "system:bootstrap")
        )
        uow.add_key(
            ApiKey(prefix, None, prefix, name, Role.admin, at, "system:bootstrap", None, owner),
            hash_secret(secret),
        )
    return token


def has_any_key(ctx: Context) -> bool:
    with ctx.store.unit_of_work() as uow:
        return uow.count_keys() > 0


def list_keys(ctx: Context, project: str) -> list[ApiKey]:
    """The project's keys (never their secrets).

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return uow.list_keys(project)


def revoke_key(
    ctx: Context, actor: str, project: str, prefix: str, authenticator: Authenticator | None = None
) -> ApiKey:
    with change(ctx, project, actor) as ch:
        key = _project_key(ch, project, prefix)
        if key.revoked_at is None:
            ch.uow.revoke_key(prefix, ch.at)
            revoked = replace(key, revoked_at=ch.at)
            _audit_key(ch, AuditAction.KEY_REVOKE, revoked, before=key_json(key))
            key = revoked
    if authenticator is not None:
        authenticator.forget(prefix)
    return key


class Authenticator:
    """Turns a bearer token into a ``Principal``, caching verified keys for a short time."""

    def __init__(
        self,
        ctx: Context,
        *,
        admin_token: str | None,
        cache_seconds: float,
        outage_grace_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ctx = ctx
        admin = split_token(admin_token) if admin_token else None
        # The instance admin key's prefix (public, like every key's), its secret, and the
        # principal it stands for.
        self._admin = (
            None
            if admin is None
            else (
                admin[0],
                admin[1].encode(),
                Principal(INSTANCE_ADMIN, Role.admin, None, admin[0]),
            )
        )
        self._ttl = cache_seconds
        # While the store cannot be reached, a key verified at most this long ago keeps working
        # (nobody can revoke a key during the outage: writes fail); 0 turns this off.
        self._grace = outage_grace_seconds
        self._monotonic = monotonic  # what the cache's lifetime is measured by (tests inject it)
        self._cache: dict[str, tuple[float, _Verifiable]] = {}  # prefix -> (fresh until, key)
        self._generation = 0  # bumped by forget(); a lookup racing it does not cache
        self._lock = threading.Lock()
        ctx.bus.subscribe(self._on_event)

    def _on_event(self, event: object) -> None:
        data = getattr(event, "data", {})
        if getattr(event, "type", "") == EventType.KEY_REVOKED and isinstance(data, dict):
            self.forget(str(data.get("prefix")))

    def forget(self, prefix: str) -> None:
        with self._lock:
            self._cache.pop(prefix, None)
            self._generation += 1

    def authenticate(self, token: str | None) -> Principal:
        """Raises ``AuthenticationError`` for a missing, malformed, unknown or revoked key."""
        return self._authenticate(token, self._lookup)

    def authenticate_cached(self, token: str | None) -> Principal | None:
        """The caller from memory alone (no I/O), or ``None`` when only ``authenticate`` can
        tell: the key is not cached, or something is wrong that it will explain."""
        try:
            return self._authenticate(token, self._cached)
        except AuthenticationError:
            return None

    def _authenticate(
        self, token: str | None, lookup: Callable[[str], _Verifiable | None]
    ) -> Principal:
        if not token:
            raise AuthenticationError(
                "missing API key: send 'Authorization: Bearer ps_<prefix>_<secret>'",
                field="Authorization",
            )
        parts = split_token(token)
        if parts is None:
            raise AuthenticationError(
                "malformed API key: expected 'ps_<prefix>_<secret>'", field="Authorization"
            )
        prefix, secret = parts
        admin = self._admin
        if (
            admin is not None
            and prefix == admin[0]
            and hmac.compare_digest(secret.encode(), admin[1])
        ):
            return admin[2]
        found = lookup(prefix)
        if found is None or not hmac.compare_digest(hash_secret(secret), found.stored):
            raise AuthenticationError("unknown API key", field="Authorization")
        key = found.key
        if key.revoked_at is not None:
            raise AuthenticationError(
                f"API key {prefix} was revoked; ask an admin for a new one", field="Authorization"
            )
        # Judged on every request, cached or not: a cached key is never served past expiry.
        if key.expires_at is not None:
            check_not_expired(key, self._ctx.clock())
        return found.principal

    def _cached(self, prefix: str) -> _Verifiable | None:
        with self._lock:
            hit = self._cache.get(prefix)
        if hit is not None and hit[0] > self._monotonic():
            return hit[1]
        return None

    def _lookup(self, prefix: str) -> _Verifiable | None:
        now = self._monotonic()
        cached = self._cached(prefix)
        if cached is not None:
            return cached
        with self._lock:
            generation = self._generation
        try:
            with self._ctx.store.unit_of_work() as uow:
                found = uow.get_key(prefix)
        except ServiceUnavailableError:
            with self._lock:
                hit = self._cache.get(prefix)
            # hit[0] is when the entry stops being fresh: it was verified at hit[0] - ttl.
            if hit is not None and now < hit[0] - self._ttl + self._grace:
                return hit[1]
            raise
        if found is None:
            return None
        key, stored = found
        verifiable = _Verifiable(key, stored, Principal(key.actor, key.role, key.project, prefix))
        with self._lock:
            # A revocation forgotten while we read must not be undone by caching the old row.
            if generation == self._generation:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[prefix] = (now + self._ttl, verifiable)
        return verifiable


class _Verifiable(NamedTuple):
    """A stored key, the hash its secret must match, and who it is once it does (built once,
    while the key is cached, instead of on every request)."""

    key: ApiKey
    stored: str
    principal: Principal
