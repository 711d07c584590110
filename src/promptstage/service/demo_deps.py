"""The demo project's dependency catalog: tools shared by the booking and support agents, the
``kb`` retrieval index at versions 7 and 8, the models in use (one with a retirement date) and
the PII rule sets. Seeded before the prompts, whose support versions reference it."""

from __future__ import annotations

from datetime import date
from typing import Any

from promptstage.domain.deps import DepKind, DepRef

from . import deps
from .context import Context

FIND_SLOTS: dict[str, Any] = {
    "description": "Free appointment slots for a service between two dates.",
    "parameters": {
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "from_date": {"type": "string", "format": "date"},
            "to_date": {"type": "string", "format": "date"},
        },
        "required": ["service", "from_date"],
    },
}
BOOK_APPOINTMENT: dict[str, Any] = {
    "description": "Book a slot for a patient; returns a confirmation code.",
    "parameters": {
        "type": "object",
        "properties": {
            "slot_id": {"type": "string"},
            "patient_name": {"type": "string"},
            "phone": {"type": "string"},
        },
        "required": ["slot_id", "patient_name"],
    },
}
CANCEL_APPOINTMENT: dict[str, Any] = {
    "description": "Cancel a booking by confirmation code.",
    "parameters": {
        "type": "object",
        "properties": {"code": {"type": "string"}},
        "required": ["code"],
    },
}

CATALOG: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("tool", "find_slots", "1", FIND_SLOTS),
    ("tool", "book_appointment", "1", BOOK_APPOINTMENT),
    ("tool", "cancel_appointment", "1", CANCEL_APPOINTMENT),
    ("index", "kb", "7", {"document_count": 1840, "built_at": "2024-11-02T02:00:00Z"}),
    ("index", "kb", "8", {"document_count": 1912, "built_at": "2024-11-20T02:00:00Z"}),
    ("model", "openai/gpt-4o", "2024-08-06", None),
    ("model", "openai/gpt-4o", "2024-11-20", None),
    ("model", "openai/gpt-4o-mini", "2024-07-18", None),
    ("model", "anthropic/claude-3-5-sonnet", "20241022", None),
    ("ruleset", "strip-pii", "1.2.0", {"description": "Mask phone numbers and emails."}),
    ("ruleset", "strip-pii", "1.3.0", {"description": "Also mask dates of birth."}),
]
# The one announced retirement: the booking agent's prod model.
RETIRING = (DepRef(DepKind.MODEL, "openai/gpt-4o", "2024-08-06"), date(2027, 2, 26))


def seed_demo_catalog(ctx: Context, actor: str, project: str) -> None:
    """Register the catalog (idempotent: the same content is found, not written again) and the
    retirement date when none is set yet."""
    for kind, name, version, body in CATALOG:
        deps.register(ctx, actor, project, kind, name, version, body)
    ref, when = RETIRING
    with ctx.store.unit_of_work() as uow:
        entry = uow.get_dep_entry(project, ref.kind.value, ref.name, str(ref.version))
    if entry is not None and entry.retires_on is None:
        deps.set_retirement(ctx, actor, project, ref, when)
