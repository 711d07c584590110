"""Server-side sessions of the admin UI: sign in, who is signed in, sign out.

A session token is 256 random bits (``secrets.token_urlsafe(32)``), new at every sign-in; the
store keeps only its SHA-256, so reading the table signs nobody in. A session ends when it is
signed out (revoked server-side), when it has been idle longer than the idle limit, or at its
absolute expiry, whichever comes first. Roles are read from the store on every request, so a
revoked membership takes effect at once. ``last_seen_at`` is written at most once a minute per
session, so the idle limit is exact to a minute and a page view costs no write.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from promptstage.domain.models import Role
from promptstage.domain.principals import INSTANCE_ADMIN, NAME_PATTERN, ui_actor
from promptstage.domain.users import SessionRecord
from promptstage.errors import AuthenticationError, PermissionDeniedError

from . import passwords
from .context import Context
from .keys import Authenticator, Principal

TOUCH_EVERY = timedelta(minutes=1)  # coarsest last_seen_at is kept
_CSRF_MESSAGE = b"promptstage-csrf"
BAD_SIGN_IN = "wrong name or password"  # one message for both: names are not revealed


@dataclass(frozen=True, slots=True)
class SessionUser:
    """Who a session belongs to, with her roles as they stand now.

    Attributes:
        name: the principal name, or ``INSTANCE_ADMIN`` for the instance admin key.
        roles: project -> role (empty for the instance admin, who may act on every project).
        instance_admin: signed in with the instance admin key.
        session_key: SHA-256 (hex) of the token: safe to log and compare, never the token.
        expires_at: the session's absolute expiry.
    """

    name: str
    roles: Mapping[str, Role]
    instance_admin: bool
    session_key: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        """The audit actor of what she does in the UI: ``alice (ui)`` or ``instance-admin``."""
        return ui_actor(self.name)

    def principal(self, project: str | None) -> Principal:
        """The caller for service functions acting on ``project``.

        Raises:
            PermissionDeniedError: naming ``project``: she has no role there.
        """
        if self.instance_admin:
            return Principal(self.actor, Role.admin, None, None)
        role = None if project is None else self.roles.get(project)
        if project is None or role is None:
            raise PermissionDeniedError(
                f"{self.name} has no role in project {project!r}; ask an admin of the project "
                "to grant one (promptstage user grant)",
                field="project",
            )
        return Principal(self.actor, role, project, None)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just opened: ``token`` goes into the cookie and is never stored."""

    token: str
    user: SessionUser


def session_key(token: str) -> str:
    """The SHA-256 (hex) of a session token: how the store knows the session."""
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 keyed by the session token (hex)."""
    return hmac.new(token.encode(), _CSRF_MESSAGE, hashlib.sha256).hexdigest()


def _open(ctx: Context, name: str, roles: Mapping[str, Role], absolute: timedelta) -> NewSession:
    token = secrets.token_urlsafe(32)
    key = session_key(token)
    at = ctx.clock()
    record = SessionRecord(key, name, at, at, at + absolute)
    with ctx.store.unit_of_work(write=True) as uow:
        uow.add_session(record)
    user = SessionUser(name, dict(roles), name == INSTANCE_ADMIN, key, record.expires_at)
    return NewSession(token, user)


def sign_in(ctx: Context, name: str, password: str, *, absolute: timedelta) -> NewSession:
    """Open a session for the user ``name`` if ``password`` is hers.

    An unknown name spends the same argon2 verification as a wrong password and gets the same
    message. A stored hash made with weaker parameters is upgraded on success.

    Raises:
        AuthenticationError: wrong name or password (one message for both), or she has no
            role in any project.
    """
    if not isinstance(name, str) or not isinstance(password, str):
        raise AuthenticationError(BAD_SIGN_IN, field="password")
    if not NAME_PATTERN.match(name) or len(password) > passwords.MAX_LENGTH:
        passwords.verify(None, "")  # the same time as any refusal
        raise AuthenticationError(BAD_SIGN_IN, field="password")
    with ctx.store.unit_of_work() as uow:
        credential = uow.get_credential(name)
        roles = uow.memberships_of(name) if credential is not None else {}
    # An unknown name is verified against a decoy hash: the same work as a wrong password.
    matches = passwords.verify(None if credential is None else credential.password_hash, password)
    if credential is None or not matches:
        raise AuthenticationError(BAD_SIGN_IN, field="password")
    if not roles:
        raise AuthenticationError(
            f"{name} has no role in any project, so there is nothing to sign in to; ask an "
            "admin to grant one (promptstage user grant)",
            field="name",
        )
    if passwords.needs_rehash(credential.password_hash):
        rehashed = passwords.hash_password(password)  # slow: outside the transaction
        with ctx.store.unit_of_work(write=True) as uow:
            now = uow.get_credential(name)
            if now is not None and now.password_hash == credential.password_hash:  # unchanged
                uow.set_credential(replace(credential, password_hash=rehashed))
    return _open(ctx, name, roles, absolute)


def sign_in_admin(
    ctx: Context, authenticator: Authenticator, token: str, *, absolute: timedelta
) -> NewSession:
    """Open a session for the instance admin, who proves it with the instance admin key.

    Raises:
        AuthenticationError: the token is not a valid key, or it is a project's key (people
            sign in with their name and password).
    """
    principal = authenticator.authenticate(token)
    if principal.actor != INSTANCE_ADMIN:
        raise AuthenticationError(
            "only the instance admin key (PROMPTSTAGE_ADMIN_KEY) signs in to the UI with a key; "
            "people sign in with their name and password",
            field="token",
        )
    return _open(ctx, INSTANCE_ADMIN, {}, absolute)


def current(ctx: Context, token: str | None, *, idle: timedelta) -> SessionUser | None:
    """The user of session ``token``, with her roles read now; ``None`` when the token is
    missing or unknown, the session was signed out, has been idle longer than ``idle``, is
    past its absolute expiry, or its user has no role left anywhere."""
    if not token:
        return None
    key = session_key(token)
    now = ctx.clock()
    with ctx.store.unit_of_work() as uow:
        record = uow.get_session(key)
        if record is None or record.revoked_at is not None:
            return None
        if now >= record.expires_at or now - record.last_seen_at > idle:
            return None
        admin = record.name == INSTANCE_ADMIN
        roles = {} if admin else uow.memberships_of(record.name)
    if not admin and not roles:
        return None
    if now - record.last_seen_at >= TOUCH_EVERY:
        with ctx.store.unit_of_work(write=True) as uow:
            uow.touch_session(key, now)
    return SessionUser(record.name, roles, admin, key, record.expires_at)


def sign_out(ctx: Context, token: str | None) -> None:
    """Revoke session ``token`` server-side (nothing happens for an unknown one)."""
    if not token:
        return
    with ctx.store.unit_of_work(write=True) as uow:
        uow.revoke_session(session_key(token), ctx.clock())


def prune_sessions(ctx: Context) -> int:
    """Delete sessions past their absolute expiry or signed out; the number deleted."""
    with ctx.store.unit_of_work(write=True) as uow:
        return uow.delete_sessions_before(ctx.clock())
