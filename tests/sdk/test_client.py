"""The sync client against the fake server: loading, deltas, calls."""

from __future__ import annotations

import copy
import threading

import httpx
import pytest

from promptstage import Client
from promptstage.errors import ConfigurationError, NotFoundError, TemplateError

from .helpers import FAST, PROJECT, V3, basic_snapshot, moved_snapshot, sse, wait_for

MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}


def prod_version(client):
    return client.get("booking.system", label="prod").version


def test_loads_the_snapshot_and_resolves(make_client, server):
    ps = make_client()
    status = ps.status()
    assert (status.state, status.source, status.last_seq, status.last_error) == (
        "connected", "server", 1, None,
    )  # fmt: skip
    p = ps.get("booking.system", label="prod", unit="user-42", context={"channel": "whatsapp"})
    assert (p.version, p.arm, p.release_id, p.unitless) == (1, "baseline", None, False)
    assert p.config.model.name == "gpt-4o" and p.unit == "user-42"
    assert p.render(clinic="Ana") == [{"role": "system", "content": "You book for Ana."}]
    assert ps.get("booking.system", label="latest").version == 2
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer ps_test_secret"


def test_unknown_prompt_or_label_is_not_found_even_with_fallback(make_client):
    ps = make_client()
    with pytest.raises(NotFoundError, match=r"did you mean booking\.system"):
        ps.get("booking.sytem", fallback="x")
    with pytest.raises(NotFoundError, match="no label 'canary'"):
        ps.get("booking.system", label="canary")


def test_label_moved_event_applies_within_the_stream(make_client, server):
    ps = make_client()
    assert wait_for(lambda: server.streams == 1)
    assert server.requests[-1].headers["last-event-id"] == "1"
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 2))
    assert wait_for(lambda: prod_version(ps) == 3)
    assert ps.status().last_seq == 2
    assert ps.get("booking.system", label="prod").render(clinic="A")[0]["content"] == "v3 for A"


def test_version_created_and_label_deleted(make_client, server):
    ps = make_client()
    server.push(sse("version.created", {"prompt": "booking.system", "version": V3}, 2))
    assert wait_for(lambda: ps.get("booking.system", label="latest").version == 3)
    server.push(sse("label.deleted", {"prompt": "router.intent", "label": "prod"}, 3))
    assert wait_for(lambda: ps.status().last_seq == 3)
    with pytest.raises(NotFoundError):
        ps.get("router.intent", label="prod")


def test_duplicates_are_skipped_and_unknown_events_advance(make_client, server):
    ps = make_client()
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 1))  # already held
    server.push(sse("webhook.created", {"id": "w1"}, 2))
    assert wait_for(lambda: ps.status().last_seq == 2)
    assert prod_version(ps) == 1


def test_withheld_events_advance_without_a_refetch(make_client, server):
    # Issue 11, defect 6: a runtime stream gets key events as `withheld` with their number.
    ps = make_client()
    assert wait_for(lambda: server.streams == 1)
    server.push(sse("withheld", {}, 2))
    server.push(sse("withheld", {}, 3))
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 4))
    assert wait_for(lambda: prod_version(ps) == 3)
    assert ps.status().last_seq == 4
    assert server.count("/snapshot") == 1  # no gap seen: nothing refetched


@pytest.mark.parametrize("frame", [sse("reset", {"seq": 5}), sse("key.revoked", {"p": 1}, 9)])
def test_reset_or_gap_refetches_the_snapshot(make_client, server, frame):
    ps = make_client()
    assert wait_for(lambda: server.streams == 1)
    server.snapshot = moved_snapshot(seq=9)
    server.push(frame)
    assert wait_for(lambda: prod_version(ps) == 3)
    assert ps.status().last_seq == 9
    assert server.count("/snapshot") == 2
    assert wait_for(lambda: server.streams == 2)
    assert server.requests[-1].headers["last-event-id"] == "9"


def test_tampered_event_is_rejected_then_the_snapshot_refetched(make_client, server):
    ps = make_client()
    bad = copy.deepcopy(V3)
    bad["template"][0]["content"] = "exfiltrate"
    server.push(sse("label.moved", {**MOVE, "version_data": bad}, 2))
    assert wait_for(lambda: server.count("/snapshot") >= 2)
    assert prod_version(ps) == 1
    assert ps.get("booking.system").render(clinic="A")[0]["content"] == "You book for A."


def test_tampered_snapshot_keeps_the_state_held(make_client, server):
    ps = make_client()
    tampered = moved_snapshot(seq=2)
    tampered["versions"]["booking.system@3"]["template"][0]["content"] = "evil"
    server.snapshot = tampered
    server.push(sse("reset", {"seq": 2}))
    assert wait_for(lambda: ps.status().last_error is not None)
    status = ps.status()
    assert "digest mismatch" in (status.last_error or "")
    assert status.last_seq == 1 and prod_version(ps) == 1
    server.snapshot = moved_snapshot(seq=2)  # the server heals
    assert wait_for(lambda: prod_version(ps) == 3)


def test_etag_revalidation_answers_304(make_client, server):
    ps = make_client(stream=False, poll_interval=0.02)
    assert wait_for(lambda: server.count("/snapshot") >= 3)
    assert server.requests[-1].headers["if-none-match"] == '"1"'
    assert ps.status().state == "connected" and ps.status().mode == "poll"
    server.snapshot = moved_snapshot(seq=2)
    assert wait_for(lambda: prod_version(ps) == 3)
    assert server.streams == 0


def test_calls_and_scores_are_sent_in_batches(make_client, server):
    ps = make_client()
    p = ps.get("booking.system", unit="user-42", context={"channel": "whatsapp"})
    messages = p.render(clinic="Ana")
    with ps.call(p, variables={"clinic": "Ana"}) as call:
        call.finish(output=f"echo {messages[0]['content']}", tokens_in=812, tokens_out=95)
    ps.score(call.id, "csat", 4)
    assert ps.flush(2.0)
    assert [c["id"] for c in server.calls] == [call.id]
    assert server.calls[0]["context"] == {"channel": "whatsapp"}
    assert server.scores == [{"call_id": call.id, "name": "csat", "value": 4, "source": "user"}]


def test_failed_sends_are_retried_without_duplicates(make_client, server):
    server.ingest_status = 503
    ps = make_client()
    with ps.call(ps.get("router.intent")) as call:
        call.finish(output="x")
    assert wait_for(lambda: server.count("/calls") >= 2)
    assert ps.status().pending_calls == 1
    server.ingest_status = 202
    assert wait_for(lambda: len(server.calls) == 1)
    assert ps.flush(1.0) and [c["id"] for c in server.calls] == [call.id]


def test_records_in_flight_count_as_pending_until_the_server_answers(make_client, server):
    server.ingest_gate = gate = threading.Event()
    ps = make_client()
    with ps.call(ps.get("router.intent")) as call:
        call.finish(output="x")
    try:
        assert wait_for(lambda: server.count("/calls") >= 1)  # sent, not yet answered
        assert ps.status().pending_calls == 1
    finally:
        gate.set()
    assert ps.flush(2.0) and ps.status().pending_calls == 0
    assert [c["id"] for c in server.calls] == [call.id]


def test_rejected_batches_are_dropped_and_counted(make_client, server, caplog):
    server.ingest_status = 422
    ps = make_client()
    with ps.call(ps.get("router.intent")):
        pass
    assert wait_for(lambda: ps.status().dropped_calls == 1)
    assert "rejected 1 records (422" in caplog.text


def test_close_flushes_and_is_idempotent(make_client, server):
    ps = make_client(flush_interval=30.0)
    for _ in range(3):
        with ps.call(ps.get("router.intent")):
            pass
    ps.close()
    ps.close()
    assert len(server.calls) == 3
    assert ps.status().state == "stale"


def test_context_manager_closes(server):
    transport = httpx.MockTransport(server.handler)
    with Client("http://promptstage.test", PROJECT, "k", transport=transport, **FAST) as ps:
        p = ps.get("router.intent")
        with ps.call(p):
            pass
    assert len(server.calls) == 1
    assert not ps._feed.syncer.is_alive() and not ps._sender.is_alive()


def test_snapshot_helper_is_consistent():
    assert moved_snapshot(seq=2)["prompts"]["booking.system"]["labels"]["prod"] == 3
    assert basic_snapshot()["seq"] == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"init_timeout": -1}, "init_timeout"),
        ({"queue_size": 0}, "queue_size"),
        ({"max_rendered_bytes": 0}, "max_rendered_bytes"),
        ({"timeout": "5"}, "timeout"),
    ],
)
def test_bad_settings_name_the_argument(settings, field):
    with pytest.raises(ConfigurationError) as info:
        Client("http://promptstage.test", PROJECT, "k", **settings)
    assert info.value.field == field


def test_bad_url_and_project_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="base_url"):
        Client("127.0.0.1:8700", PROJECT, "k")
    with pytest.raises(ConfigurationError, match="not a valid name"):
        Client("http://promptstage.test", "Bad Project", "k")


def test_max_rendered_bytes_bounds_what_the_client_renders_fallbacks_included():
    options = {"init_timeout": 0.1, "stream": False, "max_rendered_bytes": 64}
    with Client("http://127.0.0.1:9", PROJECT, "k", bootstrap=basic_snapshot(), **options) as ps:
        with pytest.raises(TemplateError, match="over the 64 B limit"):
            ps.get("booking.system").render(clinic="c" * 100)
        assert ps.get("booking.system").render(clinic="c")
    with Client("http://127.0.0.1:9", PROJECT, "k", **options) as empty:  # holds nothing
        fallback = empty.get("router.intent", fallback="Route: {{ text }}")
        with pytest.raises(TemplateError, match="over the 64 B limit"):
            fallback.render(text="y" * 100)
