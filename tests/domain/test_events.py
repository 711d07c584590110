"""The event and audit vocabulary keeps the strings that travel (wire, rows, webhooks)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from promptstage.domain.events import AuditAction, EventType, StreamSignal, outbox_event
from promptstage.domain.webhooks import WEBHOOK_EVENTS

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
WEBHOOK_ONLY = {EventType.LABEL_ROLLED_BACK, EventType.RELEASE_ROLLED_BACK}


def test_members_are_their_strings() -> None:
    assert EventType.LABEL_MOVED == "label.moved"
    assert AuditAction.LABEL_MOVE == "label.move"
    assert StreamSignal.HELLO == "hello"
    assert f"event: {EventType.KEY_REVOKED}" == "event: key.revoked"
    assert json.dumps({"type": EventType.RELEASE_CHANGED}) == '{"type": "release.changed"}'
    assert {EventType.LABEL_DELETED: 1}.get("label.deleted") == 1  # hashes like the string


def test_outbox_types_are_the_ones_protocol_md_lists() -> None:
    table = PROTOCOL.read_text(encoding="utf-8").split("Event types and their `data`", 1)[1]
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", table, re.M))
    assert documented == {str(t) for t in EventType if t not in WEBHOOK_ONLY}


def test_webhooks_subscribe_to_members() -> None:
    assert set(WEBHOOK_EVENTS) <= set(EventType)
    assert set(WEBHOOK_EVENTS) >= WEBHOOK_ONLY


def test_outbox_event_returns_its_arguments() -> None:
    data = {"prefix": "abc", "role": "runtime"}
    type_, same = outbox_event(EventType.KEY_CREATED, {"prefix": "abc", "role": "runtime"})
    assert (type_, same) == ("key.created", data)
