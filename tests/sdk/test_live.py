"""The sync and async clients over real sockets (stream read timeouts, close interrupts)."""

from __future__ import annotations

import asyncio
import time

from promptstage import AsyncClient, Client

from .helpers import PROJECT, V3, await_for, sse, wait_for

MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}
TUNING = {"backoff_initial": 0.01, "backoff_max": 0.05, "stream_read_timeout": 0.3}


def test_stream_delta_over_a_socket_and_silent_stream_detected(live_server):
    with Client(live_server.url, PROJECT, "k", **TUNING) as ps:
        assert ps.status().state == "connected"
        assert wait_for(lambda: live_server.streams == 1)
        live_server.frames.put(sse("label.moved", {**MOVE, "version_data": V3}, 2))
        assert wait_for(lambda: ps.get("booking.system").version == 3)
        # No heartbeat: the read timeout ends the silent stream and the client reconnects.
        assert wait_for(lambda: live_server.streams >= 2, timeout=1.5)


def test_close_interrupts_a_blocked_stream_read(live_server):
    ps = Client(live_server.url, PROJECT, "k", stream_read_timeout=30.0)
    assert wait_for(lambda: live_server.streams == 1)
    time.sleep(0.05)  # the sync thread is now blocked reading the silent stream
    started = time.monotonic()
    ps.close()
    assert time.monotonic() - started < 0.5
    assert not ps._feed.syncer.is_alive()


def test_async_client_over_a_socket(live_server):
    async def main() -> None:
        async with AsyncClient(live_server.url, PROJECT, "k", **TUNING) as ps:
            assert await await_for(lambda: live_server.streams == 1)
            live_server.frames.put(sse("label.moved", {**MOVE, "version_data": V3}, 2))
            assert await await_for(lambda: ps.get("booking.system").version == 3)
            assert await await_for(lambda: live_server.streams >= 2, timeout=1.5)

    asyncio.run(main())
