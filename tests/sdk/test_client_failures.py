"""How the sync client degrades: outages, bad keys, tampering, caches, overflow."""

from __future__ import annotations

import copy
import gc
import json
import threading
import time
import weakref
from typing import Any

import httpx
import pytest

from promptstage import Client
from promptstage.errors import IntegrityError, PromptUnavailableError
from promptstage.sdk.lkg import read_lkg, write_lkg

from .helpers import FAST, PROJECT, V3, basic_snapshot, moved_snapshot, sse, wait_for

MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}


def test_server_down_at_cold_start_uses_fallback_or_explains(make_client, server):
    server.connect_error = True
    started = time.monotonic()
    ps = make_client(init_timeout=0.3)
    assert time.monotonic() - started < 0.6
    p = ps.get("booking.system", unit="u1", fallback="You book appointments.")
    assert (p.version, p.arm, p.unit, p.render()) == (
        None,
        "fallback",
        "u1",
        "You book appointments.",
    )
    with pytest.raises(PromptUnavailableError, match=r"cannot connect to http://promptstage\.test"):
        ps.get("booking.system")
    assert ps.status().state == "offline"


def test_silent_server_is_bounded_by_init_timeout(silent_server):
    init_timeout = 0.5
    started = time.monotonic()
    ps = Client(silent_server, PROJECT, "k", init_timeout=init_timeout, timeout=httpx.Timeout(1.0))
    try:
        with pytest.raises(PromptUnavailableError, match="nothing is held yet") as info:
            ps.get("booking.system")
        elapsed = time.monotonic() - started
        assert elapsed <= init_timeout + 0.3
        assert silent_server in info.value.message
        assert ps.status().state in ("initializing", "offline")
    finally:
        ps.close(timeout=0.2)


def test_lkg_serves_at_once_when_the_server_is_down(make_client, server, tmp_path):
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    server.connect_error = True
    started = time.monotonic()
    ps = make_client(cache_path=path, init_timeout=1.0)
    p = ps.get("booking.system", label="prod")
    assert time.monotonic() - started < 0.5  # did not wait for the server
    assert p.version == 1
    status = ps.status()
    assert (status.state, status.source) == ("stale", "lkg")
    assert wait_for(lambda: ps.status().last_error is not None)


def test_lkg_is_revalidated_then_rewritten(make_client, server, tmp_path):
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    ps = make_client(cache_path=path)
    assert wait_for(lambda: ps.status().source == "server")
    assert server.requests[0].headers["if-none-match"] == '"1"'
    server.push(sse("version.created", {"prompt": "booking.system", "version": V3}, 2))
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 3))
    assert wait_for(lambda: ps.get("booking.system").version == 3)
    ps.close()
    found = read_lkg(path)
    assert found is not None and found[0] == moved_snapshot(seq=3) and found[1] == '"3"'


def test_corrupt_lkg_is_ignored_and_bootstrap_used(make_client, server, tmp_path, caplog):
    path = tmp_path / "lkg.json"
    path.write_text('{"checksum": "sha256:00", "snapshot": {}}')
    server.connect_error = True
    boot = tmp_path / "bootstrap.json"
    boot.write_text(json.dumps(basic_snapshot()))
    ps = make_client(cache_path=path, bootstrap=boot)
    assert ps.status().source == "bootstrap"
    assert ps.get("router.intent").render(text="hi") == "Route: hi"
    assert "checksum mismatch" in caplog.text


def test_tampered_lkg_version_is_refused_on_first_use(make_client, server, tmp_path, caplog):
    # Cold start verifies lazily: the file is loaded, and the tampered version is refused
    # (the error names it) the first time, and every time, a label pointing at it is read.
    snap = basic_snapshot()
    snap["versions"]["router.intent@1"]["template"] = "tampered {{ text }}"
    path = tmp_path / "lkg.json"
    write_lkg(path, snap, None)  # a valid envelope around a tampered snapshot
    server.connect_error = True
    ps = make_client(cache_path=path, init_timeout=0.2)
    assert ps.status().source == "lkg"
    assert ps.get("booking.system").version == 1  # an intact prompt is served
    for _ in range(2):
        with pytest.raises(IntegrityError, match=r"router.intent@1: digest mismatch"):
            ps.get("router.intent", unit="u1", context={"channel": "sms"})
    assert "refusing to serve router.intent@1" in caplog.text


def test_bootstrap_dict_then_server_takes_over(make_client, server):
    server.snapshot = moved_snapshot(seq=5)
    ps = make_client(bootstrap=basic_snapshot())
    assert wait_for(lambda: ps.status().source == "server")
    assert ps.get("booking.system").version == 3


def test_401_retries_slowly_and_says_why(make_client, server):
    server.snapshot_status = 401
    started = time.monotonic()
    ps = make_client(auth_retry_interval=0.3)
    assert time.monotonic() - started < 0.5  # a refused key does not wait for init_timeout
    status = ps.status()
    assert status.state == "offline" and "rejected the API key (401" in (status.last_error or "")
    with pytest.raises(PromptUnavailableError, match="401"):
        ps.get("booking.system")
    time.sleep(0.2)
    assert server.count("/snapshot") == 1  # no hammering despite backoff_initial=0.01
    server.snapshot_status = None
    assert wait_for(lambda: ps.status().state == "connected")


def test_403_while_holding_a_state_keeps_serving_it(make_client, server):
    server.snapshot_status = 403
    ps = make_client(bootstrap=basic_snapshot(), auth_retry_interval=10)
    assert wait_for(lambda: ps.status().last_error is not None)
    status = ps.status()
    assert status.state == "stale" and "may not read project 'clinic'" in (status.last_error or "")
    assert ps.get("booking.system").version == 1


def test_unknown_project_is_reported(server):
    transport = httpx.MockTransport(server.handler)
    with Client("http://promptstage.test", "other", "k", transport=transport, **FAST) as ps:
        assert "project 'other' not found" in (ps.status().last_error or "")


def test_server_dies_after_warm_up_then_recovers(make_client, server):
    ps = make_client()
    assert wait_for(lambda: server.streams == 1)
    server.connect_error = True
    server.drop()
    assert wait_for(lambda: ps.status().state == "stale")
    assert ps.get("booking.system").version == 1  # keeps serving
    assert wait_for(lambda: "cannot connect" in (ps.status().last_error or ""))
    server.snapshot = moved_snapshot(seq=2)
    server.connect_error = False
    assert wait_for(lambda: ps.get("booking.system").version == 3)
    assert wait_for(lambda: ps.status().state == "connected")


def test_broken_event_stream_falls_back_to_polling(make_client, server):
    server.events_status = 404
    ps = make_client(poll_interval=0.02)
    assert wait_for(lambda: ps.status().mode == "poll")
    server.snapshot = moved_snapshot(seq=2)
    assert wait_for(lambda: ps.get("booking.system").version == 3)


def test_queue_overflow_is_counted_and_never_blocks(make_client, server):
    server.ingest_status = 503
    ps = make_client(queue_size=10, batch_size=100, flush_interval=30.0)
    p = ps.get("router.intent")
    started = time.perf_counter()
    for _ in range(25):
        with ps.call(p):
            pass
    assert time.perf_counter() - started < 0.5
    status = ps.status()
    assert (status.dropped_calls, status.pending_calls) == (15, 10)
    ps.close(timeout=0.2)
    assert ps.status().dropped_calls == 15  # the failed final flush kept, not lost, the rest


def test_a_client_closed_while_its_http_client_is_being_built_closes_that_one_too(
    monkeypatch, server
):
    """close() ran before the sync thread had built its HTTP client (a cold start from a
    bootstrap does not wait for it); the client built afterwards stayed open and its socket
    leaked (CI: an unclosed-socket warning in a later test)."""
    gate, built = threading.Event(), []
    real = httpx.Client

    class SlowToBuild(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            gate.wait(5)
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(httpx, "Client", SlowToBuild)
    ps = Client(
        "http://promptstage.test",
        PROJECT,
        "ps_test_secret",
        bootstrap=basic_snapshot(),
        cache_path=None,
        stream=False,
        transport=httpx.MockTransport(server.handler),
        close_timeout=0.1,
    )
    closing = threading.Thread(target=ps.close)
    closing.start()
    time.sleep(0.5)  # close() has given up waiting for the sync thread
    gate.set()
    closing.join(5)
    ps._feed.syncer.join(5)
    assert built and all(http.is_closed for http in built)


def test_a_304_for_a_tampered_lkg_fetches_the_servers_bytes(make_client, server, tmp_path, caplog):
    # The file's ETag matches the server's, so the server answers 304: the client verifies
    # what the file holds before trusting it, finds the edited version, and fetches the whole
    # snapshot (without If-None-Match), whose intact bytes are then served.
    snap = basic_snapshot()
    server.snapshot = basic_snapshot()
    snap["versions"]["router.intent@1"]["template"] = "tampered {{ text }}"
    path = tmp_path / "lkg.json"
    write_lkg(path, snap, '"1"')
    ps = make_client(cache_path=path)
    assert wait_for(lambda: ps.status().source == "server")
    assert ps.get("router.intent").render(text="hi") == "Route: hi"
    assert "holds a version that does not verify" in caplog.text


def test_a_bootstrap_dict_is_never_changed(make_client):
    """The SDK shares equal configs within a snapshot by rewriting its version objects: it
    must do that on its own copy, not in the caller's dict."""
    given = basic_snapshot()
    given["versions"]["router.intent@1"]["config"] = copy.deepcopy(
        given["versions"]["booking.system@1"]["config"]
    )  # equal configs in two versions: the SDK keeps one object
    before = copy.deepcopy(given)
    ps = make_client(bootstrap=given, cache_path=None, stream=False)
    ps.get("router.intent").render(text="hi")
    assert given == before
    assert (
        given["versions"]["router.intent@1"]["config"]
        is not (given["versions"]["booking.system@1"]["config"])
    )


def test_a_bootstrap_dict_is_not_kept_alive_by_the_client(make_client):
    """The client loads its own copy of a bootstrap snapshot: the caller's dict is not held as
    well for the client's lifetime (at 100,000 prompts that doubled its memory)."""

    class Snapshot(dict[str, Any]):
        """A dict that can be weakly referenced."""

    given = Snapshot(basic_snapshot())
    ref = weakref.ref(given)
    ps = make_client(bootstrap=given, cache_path=None, stream=False)
    del given
    gc.collect()
    assert ref() is None
    assert ps.get("router.intent").render(text="hi") == "Route: hi"
