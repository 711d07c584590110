"""The JSON forms of domain values, shared by the API, the snapshot, the event stream and the SDK."""

from __future__ import annotations

from typing import Any

from .calls import CallRecord, Score
from .models import ApiKey, AuditRecord, LabelMove, Project, Prompt, Version, iso_utc


def version_json(v: Version) -> dict[str, Any]:
    return {
        "prompt": v.prompt,
        "version": v.number,
        "digest": v.digest,
        "type": v.type,
        "template": v.template,
        "variables": v.variables,
        "config": v.config,
        "includes": v.includes,
        "author": v.author,
        "message": v.message,
        "parent": v.parent,
        "created_at": iso_utc(v.created_at),
    }


def prompt_json(p: Prompt) -> dict[str, Any]:
    return {
        "name": p.name,
        "type": p.type,
        "description": p.description,
        "tags": list(p.tags),
        "latest_version": p.latest_version or None,
        "created_at": iso_utc(p.created_at),
    }


def project_json(p: Project) -> dict[str, Any]:
    return {"name": p.name, "description": p.description, "created_at": iso_utc(p.created_at)}


def move_json(m: LabelMove) -> dict[str, Any]:
    return {
        "prompt": m.prompt,
        "label": m.label,
        "kind": m.kind,
        "version": m.version,
        "previous": m.previous,
        "actor": m.actor,
        "reason": m.reason,
        "at": iso_utc(m.at),
    }


def audit_json(a: AuditRecord) -> dict[str, Any]:
    return {
        "seq": a.seq,
        "at": iso_utc(a.at),
        "actor": a.actor,
        "action": a.action,
        "target": a.target,
        "before": a.before,
        "after": a.after,
        "reason": a.reason,
        "prev_hash": a.prev_hash,
        "hash": a.hash,
    }


def key_json(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "project": k.project,
        "prefix": k.prefix,
        "name": k.name,
        "role": k.role.value,
        "created_at": iso_utc(k.created_at),
        "created_by": k.created_by,
        "revoked_at": iso_utc(k.revoked_at) if k.revoked_at else None,
    }


def call_json(c: CallRecord) -> dict[str, Any]:
    return {
        "id": c.id, "at": iso_utc(c.at), "prompt": c.prompt, "label": c.label,
        "version": c.version, "digest": c.digest, "release_id": c.release_id, "arm": c.arm,
        "unit_hash": c.unit_hash, "context": c.context, "variables": c.variables,
        "output": c.output, "model": c.model, "latency_ms": c.latency_ms,
        "tokens_in": c.tokens_in, "tokens_out": c.tokens_out, "cost": c.cost, "error": c.error,
    }


def score_json(s: Score) -> dict[str, Any]:
    return {"call_id": s.call_id, "name": s.name, "value": s.value, "source": s.source, "at": iso_utc(s.at)}
