"""People who sign in to the admin UI: their password, their role per project, their sessions.

A user is a principal name, instance-wide like the names four-eyes compares: ``alice`` of one
project and ``alice`` of another are the same person. Her password is one argon2id hash; her
role is held per project (a membership). A session is stored under the SHA-256 of its token,
never the token itself, so a leak of the table signs nobody in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import Role


@dataclass(frozen=True, slots=True)
class UserCredential:
    """The password of the person ``name`` (an argon2id hash, never the password)."""

    name: str
    password_hash: str
    created_at: datetime
    created_by: str
    password_changed_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """The role ``name`` holds in ``project`` when signed in to the UI."""

    project: str
    name: str
    role: Role
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A UI session as stored: ``key`` is the SHA-256 (hex) of the session token."""

    key: str
    name: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
