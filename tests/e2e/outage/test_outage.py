"""The SDK against a server that dies, is down at start, hangs, or refuses connections.

Every scenario runs a real ``promptstage serve`` process (or none at all) and a real
``promptstage.Client``; faults come from killing the process or from :class:`FaultProxy`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from promptstage import Client, PromptUnavailableError

from ..proxy import FaultProxy
from ..servers import FAST, Api, ServerProcess, free_port, wait_for

TEXTS = ("Hello v1 {{ name }}.", "Hello v2 {{ name }}.")


def _move_offline(database_url: str, project: str, prompt: str, label: str, version: int) -> None:
    """Move a label straight in the database while no server runs (an operator's script)."""
    from promptstage.server import open_store
    from promptstage.service.bus import EventBus
    from promptstage.service.context import Context
    from promptstage.service.labels import move_label
    from promptstage.settings import Settings

    store = open_store(Settings(database_url=database_url))
    try:
        move_label(Context(store=store, bus=EventBus()), "key:ops", project, prompt, label, version)
    finally:
        store.close()


@pytest.mark.slow
def test_server_killed_after_warm_up_keeps_serving_then_converges(
    own_server: ServerProcess,
) -> None:
    own_server.start()
    api = own_server.api()
    project, (v1, v2) = api.setup(texts=TEXTS)
    token, _ = api.key(project)
    api.close()
    with Client(own_server.url, project, token, **FAST) as ps:
        assert ps.get("greet").version == v1
        assert wait_for(lambda: ps.status().state == "connected")
        seq_before = ps.status().last_seq

        own_server.kill()  # SIGKILL: no goodbye on the stream
        assert wait_for(lambda: ps.status().state == "stale", timeout=10)
        status = ps.status()
        assert status.source == "server" and status.last_error is not None
        started = time.perf_counter()
        for _ in range(1000):
            p = ps.get("greet", unit="user-1")
        per_call = (time.perf_counter() - started) / 1000
        assert p.version == v1 and p.render(name="Ana") == "Hello v1 Ana."
        assert per_call < 0.001, "get must stay an in-memory lookup while the server is down"

        # A label moved while the server is down (straight in its database)...
        _move_offline(own_server.database_url, project, "greet", "prod", v2)
        assert ps.get("greet").version == v1
        # ...is picked up once the server is back on the same port and database.
        own_server.start()
        assert wait_for(lambda: ps.get("greet").version == v2, timeout=15)
        assert wait_for(lambda: ps.status().state == "connected", timeout=10)
        status = ps.status()
        assert status.last_error is None and status.last_seq is not None
        assert seq_before is not None and status.last_seq > seq_before
        assert ps.get("greet").render(name="Ana") == "Hello v2 Ana."


def test_cold_start_from_last_known_good_with_server_down(
    api: Api, shared_server: ServerProcess, tmp_path: Path
) -> None:
    project, (v1,) = api.setup()
    token, _ = api.key(project)
    cache = tmp_path / "lkg.json"
    with Client(shared_server.url, project, token, cache_path=cache, **FAST) as warm:
        assert warm.get("greet").version == v1
    assert cache.is_file()

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    started = time.perf_counter()
    ps = Client(down, project, token, cache_path=cache, **FAST)
    returned = time.perf_counter()
    try:
        p = ps.get("greet")
        served = time.perf_counter()
        assert served - returned < 0.050, "first get must follow Client(...) within 50 ms"
        assert returned - started < FAST["init_timeout"] / 2, "must not wait for the server"
        assert p.version == v1 and p.render(name="Ana") == "Hello v1 Ana."
        assert ps.status().source == "lkg"
        assert wait_for(lambda: ps.status().state == "stale" and ps.status().last_error)
        assert "cannot connect" in (ps.status().last_error or "")
        assert ps.get("greet").version == v1
    finally:
        ps.close(timeout=0.5)


@pytest.mark.parametrize("mode", ["blackhole", "reset"])
def test_nothing_cached_and_server_hanging_is_bounded_by_init_timeout(
    make_proxy: Callable[[int], FaultProxy], mode: str
) -> None:
    proxy = make_proxy(free_port())
    proxy.set_mode(mode)  # type: ignore[arg-type]
    init_timeout = 1.0
    started = time.perf_counter()
    ps = Client(proxy.url, "clinic", "ps_abc_def", **{**FAST, "init_timeout": init_timeout})
    try:
        p = ps.get("greet", fallback="Hi {{ name }}.")
        with pytest.raises(PromptUnavailableError) as info:
            ps.get("greet")
        elapsed = time.perf_counter() - started
        assert elapsed <= init_timeout + 0.75, f"took {elapsed:.2f} s with init_timeout=1"
        assert p.arm == "fallback" and p.version is None and p.render(name="Ana") == "Hi Ana."
        assert proxy.connections >= 1
        reason = str(info.value)
        if mode == "blackhole":
            assert "did not answer in time" in reason or "within init_timeout" in reason
        else:
            assert "failed" in reason or "cannot connect" in reason
        assert ps.status().state in ("initializing", "offline")
        assert ps.status().source is None
    finally:
        started = time.perf_counter()
        ps.close(timeout=0.5)
        assert time.perf_counter() - started < 3.0


def test_queue_overflow_drops_oldest_and_never_blocks(api: Api) -> None:
    project, (v1,) = api.setup()
    snapshot = api.snapshot(project)
    down = f"http://127.0.0.1:{free_port()}"
    ps = Client(
        down,
        project,
        "ps_abc_def",
        bootstrap=snapshot,
        **{**FAST, "init_timeout": 0.2, "close_timeout": 0.3},
        queue_size=5,
        batch_size=2,
    )
    try:
        p = ps.get("greet", unit="user-1")
        assert p.version == v1 and ps.status().source == "bootstrap"
        slowest = 0.0
        for i in range(300):
            started = time.perf_counter()
            with ps.call(p, variables={"name": f"user {i}"}) as call:
                call.finish(output="hi", tokens_in=3, tokens_out=1)
            ps.score(call.id, "csat", 4)
            slowest = max(slowest, time.perf_counter() - started)
        assert slowest < 0.05, f"call()+score() blocked for {slowest * 1000:.1f} ms"
        # 600 records through a queue of 5: everything but what is queued is dropped and
        # counted (a batch the sender is retrying is counted once it is given back).
        assert wait_for(lambda: ps.status().dropped_calls + ps.status().pending_calls == 600)
        status = ps.status()
        assert status.pending_calls <= 5 and status.dropped_calls >= 595
        first = status.dropped_calls
        with ps.call(p) as call:
            pass
        assert wait_for(lambda: ps.status().dropped_calls > first)
    finally:
        started = time.perf_counter()
        ps.close()
        assert time.perf_counter() - started < 2.0
