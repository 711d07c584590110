"""The JSON forms of domain values, shared by the API, the snapshot, the event stream and the SDK."""

from __future__ import annotations

from typing import Any

from .calls import CallRecord, Score
from .models import ApiKey, AuditRecord, LabelMove, Project, Prompt, Version, iso_utc
from .releases import Release, ReleaseChange, ReleaseLook
from .webhooks import Delivery, Webhook


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
        "archived_at": None if p.archived_at is None else iso_utc(p.archived_at),
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
        "principal": k.principal,
        "expires_at": iso_utc(k.expires_at) if k.expires_at else None,
    }


def call_json(c: CallRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "at": iso_utc(c.at),
        "prompt": c.prompt,
        "label": c.label,
        "version": c.version,
        "digest": c.digest,
        "release_id": c.release_id,
        "arm": c.arm,
        "unit_hash": c.unit_hash,
        "context": c.context,
        "variables": c.variables,
        "output": c.output,
        "model": c.model,
        "latency_ms": c.latency_ms,
        "tokens_in": c.tokens_in,
        "tokens_out": c.tokens_out,
        "cost": c.cost,
        "error": c.error,
        "index": c.index,
        "tools": list(c.tools) if c.tools is not None else None,
    }


def score_json(s: Score) -> dict[str, Any]:
    return {
        "call_id": s.call_id,
        "name": s.name,
        "value": s.value,
        "source": s.source,
        "at": iso_utc(s.at),
    }


def release_json(r: Release) -> dict[str, Any]:
    """The API form of a release (without its history and looks)."""
    return {
        "id": r.id,
        "prompt": r.prompt,
        "label": r.label,
        "strategy": r.strategy,
        "state": r.state,
        "baseline_version": r.baseline_version,
        "candidate_version": r.candidate_version,
        "weight_bps": r.weight_bps,
        "step_index": r.step_index,
        "steps": [s.to_dict() for s in r.steps],
        "salt": r.salt,
        "hash_version": r.hash_version,
        "unit_attribute": r.unit_attribute,
        "targeting": r.targeting,
        "guardrails": list(r.guardrails) if r.guardrails is not None else None,
        "auto_rollback": r.auto_rollback,
        "on_insufficient_data": r.on_insufficient_data,
        "on_drift": r.on_drift,
        "error_budget": r.error_budget,
        "flags": list(r.flags),
        "reason": r.reason,
        "created_by": r.created_by,
        "created_at": iso_utc(r.created_at),
        "updated_at": iso_utc(r.updated_at),
        "step_started_at": iso_utc(r.step_started_at),
        "ended_at": iso_utc(r.ended_at) if r.ended_at else None,
    }


def release_runtime_json(r: Release, versions: dict[str, Any]) -> dict[str, Any]:
    """The runtime form (docs/protocol.md) used in the snapshot and ``release.changed`` events.

    ``versions`` maps ``name@N`` to the version JSON of the baseline and the candidate.
    """
    return {
        "id": r.id,
        "prompt": r.prompt,
        "label": r.label,
        "baseline_version": r.baseline_version,
        "candidate_version": r.candidate_version,
        "weight_bps": r.weight_bps,
        "salt": r.salt,
        "hash_version": r.hash_version,
        "targeting": r.targeting,
        "state": r.state,
        "versions": versions,
    }


def release_change_json(c: ReleaseChange) -> dict[str, Any]:
    return {
        "at": iso_utc(c.at),
        "actor": c.actor,
        "action": c.action,
        "from_state": c.from_state,
        "to_state": c.to_state,
        "step_index": c.step_index,
        "weight_bps": c.weight_bps,
        "reason": c.reason,
    }


def look_json(lk: ReleaseLook) -> dict[str, Any]:
    return {
        "id": lk.id,
        "at": iso_utc(lk.at),
        "step_index": lk.step_index,
        "weight_bps": lk.weight_bps,
        "decision": lk.decision,
        "action": lk.action,
        "reason": lk.reason,
        **{k: v for k, v in lk.data.items() if k not in ("decision", "reason")},
    }


def webhook_json(w: Webhook) -> dict[str, Any]:
    """A webhook without its secret (shown once, at creation, by the route)."""
    return {
        "id": w.id,
        "url": w.url,
        "events": list(w.events),
        "created_at": iso_utc(w.created_at),
        "created_by": w.created_by,
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event_seq": d.event_seq,
        "event_type": d.event_type,
        "state": d.state,
        "attempts": list(d.attempts),
        "next_attempt_at": iso_utc(d.next_attempt_at) if d.next_attempt_at else None,
        "created_at": iso_utc(d.created_at),
        "delivered_at": iso_utc(d.delivered_at) if d.delivered_at else None,
    }
