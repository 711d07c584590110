"""Plain, immutable domain values. Repositories return these; SQLAlchemy rows never leave store/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

PROMPT_TYPES = ("text", "chat")
MAX_VERSION = 2**31 - 1  # version numbers are 32-bit in every store; larger ones cannot exist


def iso_utc(at: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: one spelling whatever the database returns."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Role(StrEnum):
    """API key and user roles; each includes everything the ones before it may do (SPEC §8)."""

    runtime = "runtime"
    editor = "editor"
    releaser = "releaser"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.runtime: 0, Role.editor: 1, Role.releaser: 2, Role.admin: 3}


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Prompt:
    project: str
    name: str
    type: str
    description: str
    tags: tuple[str, ...]
    created_at: datetime
    latest_version: int = 0
    archived_at: datetime | None = None  # archived prompts leave lists and snapshots


@dataclass(frozen=True, slots=True)
class Version:
    """One immutable version. ``includes`` maps ``name@N`` to the template text of every
    version it includes (transitively), so it renders without looking anything up."""

    prompt: str
    number: int
    digest: str
    type: str
    template: Any
    variables: list[dict[str, Any]]
    config: dict[str, Any]
    author: str
    message: str
    parent: int | None
    created_at: datetime
    includes: dict[str, str] = field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        """The four fields the digest covers."""
        return {
            "type": self.type,
            "template": self.template,
            "variables": self.variables,
            "config": self.config,
        }


@dataclass(frozen=True, slots=True)
class LabelMove:
    """One event in a label's history. ``version`` is ``None`` when the label was removed."""

    prompt: str
    label: str
    version: int | None
    previous: int | None
    actor: str
    reason: str
    at: datetime
    kind: str = "move"  # move | rollback | delete


@dataclass(frozen=True, slots=True)
class AuditRecord:
    project: str
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any
    reason: str
    prev_hash: str
    hash: str

    def chained(self) -> dict[str, Any]:
        """The fields covered by the hash (everything except ``hash`` itself)."""
        return {
            "project": self.project,
            "seq": self.seq,
            "at": iso_utc(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """An outbox row: one change the SDKs must learn about, in project sequence order."""

    project: str
    seq: int
    type: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    project: str | None  # None: an instance-level key (admin of every project)
    prefix: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    owner: str = ""  # the principal's name; "" reads as the key's own principal, key:<prefix>
    expires_at: datetime | None = None

    @property
    def principal(self) -> str:
        """The name of the principal the key was issued to."""
        return self.owner or f"key:{self.prefix}"

    @property
    def actor(self) -> str:
        """What the audit trail records for a request made with this key."""
        if self.principal == f"key:{self.prefix}":
            return self.principal
        return f"{self.principal} (key:{self.prefix})"
