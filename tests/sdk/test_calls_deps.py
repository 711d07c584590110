"""What a call reports it ran on: ``finish(index=, tools=)`` on the call wire (drift)."""

from __future__ import annotations

import json

import pytest

from promptstage.domain.calls import parse_call
from promptstage.sdk.calls import Call, Outbox, Recorder
from promptstage.sdk.prompt import for_call
from promptstage.sdk.state import build_state
from promptstage.sdk.wire import encode

from .helpers import PROJECT, basic_snapshot


@pytest.fixture
def prompt():
    state = build_state(basic_snapshot(), PROJECT, source="server")
    return for_call(state.entries[("booking.system", "prod")].base, "user-42", {})


def _body(prompt, **finish):
    rec = Recorder(Outbox(10, 10, lambda: None), None)
    with Call(rec, prompt, None) as call:
        call.finish(output="ok", **finish)
    (chunk,) = encode(rec.outbox.take(10), PROJECT)
    (body,) = json.loads(chunk.body)["calls"]
    return body


def test_index_and_tools_are_sent_when_given_and_the_server_reads_them(prompt):
    body = _body(prompt, model="gpt-4o-2024-11-20", index="kb@8", tools=("find_slots", "book"))
    assert (body["model"], body["index"], body["tools"]) == (
        "gpt-4o-2024-11-20", "kb@8", ["find_slots", "book"],
    )  # fmt: skip
    from datetime import UTC, datetime

    parsed = parse_call(body, "calls[0]", datetime.now(UTC))
    assert parsed.index == "kb@8" and parsed.tools == ("find_slots", "book")


def test_without_them_the_record_is_the_one_older_servers_know(prompt):
    body = _body(prompt, model="gpt-4o")
    assert "index" not in body and "tools" not in body
