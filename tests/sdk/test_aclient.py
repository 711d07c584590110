"""AsyncClient: the same behaviour as Client, on the running loop."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from promptstage import AsyncClient
from promptstage.errors import NotFoundError, PromptUnavailableError
from promptstage.sdk.lkg import read_lkg

from .helpers import FAST, PROJECT, V3, FakeServer, await_for, basic_snapshot, moved_snapshot, sse

MOVE = {"prompt": "booking.system", "label": "prod", "version": 3, "previous": 1, "kind": "move"}


def make(server: FakeServer, **settings: Any) -> AsyncClient:
    options: dict[str, Any] = {**FAST, "transport": httpx.MockTransport(server.ahandler)}
    options.update(settings)
    return AsyncClient("http://promptstage.test", PROJECT, "ps_test_secret", **options)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_start_get_events_calls_and_close(server):
    async def main() -> None:
        async with make(server) as ps:
            assert ps.status().state == "connected"
            p = ps.get("booking.system", unit="user-1", context={"channel": "sms"})
            assert (p.version, p.arm, p.unit) == (1, "baseline", "user-1")
            assert await await_for(lambda: server.streams == 1)
            server.push(sse("label.moved", {**MOVE, "version_data": V3}, 2))
            assert await await_for(lambda: ps.get("booking.system").version == 3)
            with ps.call(p, variables={"clinic": "Ana"}) as call:
                call.finish(output="ok", tokens_in=1, tokens_out=2)
            async with ps.call(p) as second:
                pass
            ps.score(call.id, "csat", 5)
            assert await ps.flush(2.0)
            assert {c["id"] for c in server.calls} == {call.id, second.id}
            assert server.scores[0]["call_id"] == call.id
        assert ps.status().state == "stale"

    run(main())


def test_create_classmethod_and_not_found(server):
    async def main() -> None:
        ps = await AsyncClient.create(
            "http://promptstage.test", PROJECT, "k", transport=httpx.MockTransport(server.ahandler)
        )
        try:
            with pytest.raises(NotFoundError):
                ps.get("nope")
        finally:
            await ps.aclose()

    run(main())


def test_reset_refetches_and_tampered_snapshot_is_rejected(server):
    async def main() -> None:
        async with make(server) as ps:
            assert await await_for(lambda: server.streams == 1)
            tampered = moved_snapshot(seq=2)
            tampered["versions"]["booking.system@3"] = copy.deepcopy(V3) | {"template": "evil"}
            server.snapshot = tampered
            server.push(sse("reset", {"seq": 2}))
            assert await await_for(lambda: "digest mismatch" in (ps.status().last_error or ""))
            assert ps.get("booking.system").version == 1
            server.snapshot = moved_snapshot(seq=2)
            assert await await_for(lambda: ps.get("booking.system").version == 3)

    run(main())


def test_cold_start_without_server(server):
    server.connect_error = True

    async def main() -> None:
        started = time.monotonic()
        async with make(server, init_timeout=0.3) as ps:
            assert time.monotonic() - started < 0.6
            assert ps.get("x", fallback="Hi").arm == "fallback"
            with pytest.raises(PromptUnavailableError, match="cannot connect"):
                ps.get("x")

    run(main())


def test_before_start_serves_the_bootstrap(server):
    ps = make(server, bootstrap=basic_snapshot())
    assert ps.get("router.intent").version == 1
    assert ps.status().source == "bootstrap"
    run(ps.aclose())


def test_401_slow_retry(server):
    server.snapshot_status = 401

    async def main() -> None:
        async with make(server, auth_retry_interval=10) as ps:
            assert "401" in (ps.status().last_error or "")
            await asyncio.sleep(0.1)
            assert server.count("/snapshot") == 1

    run(main())


def test_polling_lkg_and_close_flush(server, tmp_path):
    path = tmp_path / "lkg.json"

    async def main() -> None:
        # close_timeout and the wait are generous bounds, not expected durations: both end as
        # soon as the work is done, and a loaded machine must not turn them into failures.
        ps = make(
            server,
            stream=False,
            poll_interval=0.02,
            cache_path=path,
            flush_interval=30,
            close_timeout=30,
        )
        await ps.start()
        server.snapshot = moved_snapshot(seq=2)
        assert await await_for(lambda: ps.get("booking.system").version == 3, timeout=30)
        with ps.call(ps.get("booking.system")):
            pass
        await ps.aclose()
        assert len(server.calls) == 1 and server.streams == 0

    run(main())
    found = read_lkg(path)
    assert found is not None and found[0] == moved_snapshot(seq=2)


def test_calls_from_other_threads_wake_the_sender(server):
    async def main() -> None:
        async with make(server, batch_size=2, flush_interval=30) as ps:
            p = ps.get("router.intent")

            def work() -> None:
                for _ in range(2):
                    with ps.call(p):
                        pass

            await asyncio.to_thread(work)
            assert await await_for(lambda: len(server.calls) == 2)

    run(main())


def test_close_keeps_a_last_known_good_write_still_waiting_for_a_thread(server, tmp_path):
    """The flake of test_polling_lkg_and_close_flush, made deterministic: the write of the new
    state is queued for a worker thread (a busy pool on a loaded machine) when ``aclose``
    cancels the sync task. Cancelling must not drop the write: the file ends with the state held.
    """
    path = tmp_path / "lkg.json"
    gate = threading.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pool = ThreadPoolExecutor(max_workers=1)
        loop.set_default_executor(pool)
        ps = make(server, stream=False, poll_interval=0.02, cache_path=path, close_timeout=30)
        await ps.start()
        assert await await_for(lambda: read_lkg(path) is not None, timeout=30)
        busy = loop.run_in_executor(None, gate.wait)  # the only worker is busy from now on
        server.snapshot = moved_snapshot(seq=2)
        assert await await_for(lambda: ps.get("booking.system").version == 3, timeout=30)
        closing = asyncio.create_task(ps.aclose())
        sync_task = ps._tasks[0]
        assert await await_for(sync_task.done, timeout=30)  # cancelled with its write queued
        gate.set()
        await busy
        await closing

    run(main())
    found = read_lkg(path)
    assert found is not None and found[0] == moved_snapshot(seq=2)
