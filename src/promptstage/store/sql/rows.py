"""Turning table rows into domain values (rows never leave ``store/``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from promptstage.domain.models import (
    ApiKey,
    AuditRecord,
    Event,
    LabelMove,
    Project,
    Prompt,
    Role,
    Version,
)
from promptstage.domain.principals import PrincipalKind, PrincipalRecord


def to_project(row: Row[Any]) -> Project:
    """A ``projects`` row as a ``Project``."""
    return Project(name=row.name, description=row.description, created_at=row.created_at)


def to_prompt(row: Row[Any]) -> Prompt:
    """A ``prompts`` row as a ``Prompt``."""
    return Prompt(
        project=row.project,
        name=row.name,
        type=row.type,
        description=row.description,
        tags=tuple(row.tags),
        created_at=row.created_at,
        latest_version=row.latest_version,
        archived_at=row.archived_at,
    )


def to_version(row: Row[Any]) -> Version:
    """A ``versions`` row as a ``Version``."""
    return Version(
        prompt=row.prompt,
        number=row.number,
        digest=row.digest,
        type=row.type,
        template=row.template,
        variables=row.variables,
        config=row.config,
        author=row.author,
        message=row.message,
        parent=row.parent,
        created_at=row.created_at,
        includes=row.includes,
    )


def to_label_move(row: Row[Any]) -> LabelMove:
    """A ``label_moves`` row as a ``LabelMove``."""
    return LabelMove(
        prompt=row.prompt,
        label=row.label,
        version=row.version,
        previous=row.previous,
        actor=row.actor,
        reason=row.reason,
        at=row.at,
        kind=row.kind,
    )


def to_audit(row: Row[Any]) -> AuditRecord:
    """An ``audit`` row as an ``AuditRecord``."""
    return AuditRecord(
        project=row.project,
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        before=row.before,
        after=row.after,
        reason=row.reason,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def to_event(row: Row[Any]) -> Event:
    """An ``events`` row as an ``Event``."""
    return Event(project=row.project, seq=row.seq, type=row.type, data=row.data, at=row.at)


def to_key(row: Row[Any]) -> ApiKey:
    """An ``api_keys`` row as an ``ApiKey`` (the secret hash stays in the row)."""
    return ApiKey(
        id=row.id,
        project=row.project,
        prefix=row.prefix,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        # "" is the key's own principal (key:<prefix>), as ApiKey spells it
        owner="" if row.principal == f"key:{row.prefix}" else row.principal,
        expires_at=row.expires_at,
    )


def to_principal(row: Row[Any]) -> PrincipalRecord:
    """A ``principals`` row as a ``PrincipalRecord``."""
    return PrincipalRecord(
        project=row.project,
        name=row.name,
        kind=PrincipalKind(row.kind),
        created_at=row.created_at,
        created_by=row.created_by,
    )
