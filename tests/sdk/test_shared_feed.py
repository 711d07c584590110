"""Clients of one project in one process read one feed: one state, one snapshot fetch, one
event stream, one last-known-good writer (issue 16); pins, redaction and call queues stay
each client's own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from promptstage import Client
from promptstage.errors import ConfigurationError
from promptstage.sdk import base as sdk_base
from promptstage.sdk.feed import Feed

from .helpers import FAST, PROJECT, V3, basic_snapshot, refuse, sse, wait_for

URL = "http://promptstage.test"
MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}


@pytest.fixture
def transport(server) -> httpx.MockTransport:
    """One transport object: clients on it may share a feed (equal sync keys)."""
    return httpx.MockTransport(server.handler)


@pytest.fixture
def clients(transport) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(**settings: Any) -> Client:
        options: dict[str, Any] = {**FAST, "transport": transport, "cache_path": None}
        options.update(settings)
        key = options.pop("api_key", "ps_test_secret")
        client = Client(URL, PROJECT, key, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1.0)


def prod(ps: Client) -> int | None:
    return ps.get("booking.system", label="prod").version


def threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name and t.is_alive())


def test_clients_of_one_project_read_one_state_and_one_stream(clients, server):
    before = threads("promptstage-sync")
    a, b, c = clients(), clients(), clients()
    assert a._core is b._core is c._core
    assert a._core.state is b._core.state
    assert server.count("/snapshot") == 1  # one fetch for the three
    assert wait_for(lambda: server.streams == 1)
    assert threads("promptstage-sync") == before + 1

    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 2))
    assert wait_for(lambda: prod(a) == prod(b) == prod(c) == 3)
    assert server.streams == 1 and server.count("/snapshot") == 1


def test_a_client_built_after_a_change_serves_the_current_state_at_once(clients, server):
    a = clients()
    assert wait_for(lambda: server.streams == 1)
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 2))
    assert wait_for(lambda: prod(a) == 3)
    late = clients(init_timeout=0.0)
    assert prod(late) == 3 and late.status().last_seq == 2


def test_pins_and_call_queues_stay_each_clients_own(clients, server):
    plain = clients()
    pinned = clients(pins={"booking.system:prod": 2})
    assert plain._core is pinned._core
    assert prod(plain) == 1
    assert pinned.get("booking.system", label="prod").arm == "pinned" and prod(pinned) == 2
    assert plain.status().pins == {} and pinned.status().pins == {"booking.system:prod": 2}

    for ps in (plain, pinned):
        with ps.call(ps.get("router.intent", label="prod"), variables={"text": "hi"}):
            pass
    assert plain.flush(2.0) and pinned.flush(2.0)
    assert len(server.calls) == 2


def test_the_feed_runs_until_its_last_client_closes(clients, server):
    a, b = clients(), clients()
    feed = a._feed
    assert wait_for(lambda: server.streams == 1)
    a.close()
    assert feed.syncer.is_alive()  # b still reads it
    server.push(sse("label.moved", {**MOVE, "version_data": V3}, 2))
    assert wait_for(lambda: prod(b) == 3)
    b.close()
    assert not feed.syncer.is_alive() and feed.http is not None and feed.http.is_closed

    again = clients()  # a new client after the last one closed starts a new feed
    assert again._feed is not feed and again._feed.syncer.is_alive()


def test_different_keys_settings_or_share_false_get_their_own_feed(clients, server):
    a = clients()
    assert clients(api_key="ps_other_secret")._core is not a._core
    assert clients(stream=False)._core is not a._core
    assert clients(max_rendered_bytes=1000)._core is not a._core
    assert clients(transport=httpx.MockTransport(server.handler))._core is not a._core
    own = clients(share=False)
    assert own._core is not a._core and clients()._core is a._core
    # per-client settings are not part of the key
    assert clients(pins="router.intent:prod=1", flush_interval=0.5)._core is a._core


def test_share_must_be_a_bool(clients):
    with pytest.raises(ConfigurationError, match="share must be True or False") as info:
        clients(share="yes")
    assert info.value.field == "share"


def test_a_client_that_fails_to_build_leaves_no_feed_running(clients, monkeypatch):
    def broken(options: Any) -> None:
        raise ConfigurationError("otel='span' needs the OpenTelemetry API", field="otel")

    monkeypatch.setattr(sdk_base, "call_tracing", broken)
    before = threads("promptstage-sync")
    with pytest.raises(ConfigurationError):
        clients()
    assert wait_for(lambda: threads("promptstage-sync") == before)
    assert not Feed._shared


def test_a_later_clients_bootstrap_serves_while_the_feed_holds_nothing(clients, server):
    server.connect_error = True
    first = clients(init_timeout=0.05)
    assert first.status().source is None
    second = clients(init_timeout=0.05, bootstrap=basic_snapshot())
    assert second._core is first._core
    assert prod(second) == 1 and prod(first) == 1  # the bootstrap is the feed's now
    assert first.status().source == "bootstrap"


def test_the_last_known_good_file_has_one_writer(clients, server, tmp_path):
    path = tmp_path / "lkg.json"
    a, b = clients(cache_path=path), clients(cache_path=path)
    assert a._feed is b._feed
    assert threads("promptstage-lkg") >= 1
    assert wait_for(path.exists)
    a.close()
    b.close()
    restarted = clients(cache_path=path, transport=httpx.MockTransport(refuse), init_timeout=0.0)
    assert prod(restarted) == 1 and restarted.status().source == "lkg"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_its_own_feed(clients):
    a = clients()
    assert Feed._shared
    pid = os.fork()
    if pid == 0:  # the child: the parent's feed has no threads here
        os._exit(0 if not Feed._shared else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert a._feed in Feed._shared.values()  # the parent keeps its own


def test_a_feed_whose_start_fails_is_not_left_registered(clients, monkeypatch):
    def broken(options: Any) -> None:
        raise RuntimeError("reading the local state failed")

    monkeypatch.setattr("promptstage.sdk.core.load_local", broken)
    with pytest.raises(RuntimeError):
        clients()
    assert not Feed._shared
