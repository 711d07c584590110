"""A real server whose Postgres link is cut or slowed by a :class:`FaultProxy` (faults 6, 7, 16).

Runtime reads go on from the server's memory, marked stale; writes fail fast with 503 and
change nothing; ``/readyz`` says degraded; a slow database cancels a write at
``statement_timeout`` and rolls it back whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from promptstage import Client

from ..proxy import FaultProxy
from ..servers import CONFIG, FAST, ServerProcess, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_server(
    make_postgres_database: Callable[[], str],
    make_proxy: Callable[[int], FaultProxy],
    tmp_path: Path,
) -> Iterator[tuple[ServerProcess, FaultProxy, str]]:
    """A server (not started) on a fresh Postgres database reached through a fault proxy."""
    direct = make_postgres_database()
    url = make_url(direct)
    proxy = make_proxy(url.port or 5432)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = ServerProcess(
        through,
        tmp_path,
        env={"PROMPTSTAGE_STATE_CHECK_SECONDS": "0.2", "PROMPTSTAGE_STATEMENT_TIMEOUT_MS": "1000"},
    )
    try:
        yield server, proxy, direct
    finally:
        proxy.set_mode("pass")
        server.kill()


def _runtime(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_reads_are_served_from_memory_while_the_database_is_down_and_writes_fail_fast(
    pg_server: tuple[ServerProcess, FaultProxy, str],
) -> None:
    server, proxy, _ = pg_server
    server.extra_env["PROMPTSTAGE_AUTH_CACHE_SECONDS"] = "0.3"  # so the grace is what serves
    api = server.start().api()
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    api.move(project, "greet", "prod", v2)  # history: prod v1 -> v2, so rollback has a target
    token, _ = api.key(project)
    root = f"/api/v1/projects/{project}"
    with _runtime(server.url, token) as rt:
        warm = rt.get(f"{root}/prompts/greet/resolve", params={"label": "prod"})
        assert warm.status_code == 200 and "X-Promptstage-Store" not in warm.headers
        etag = rt.get(f"{root}/snapshot").headers["ETag"]

        proxy.set_mode("reset")  # Postgres unreachable: every connection refused or reset
        time.sleep(0.5)  # past state_check_seconds and auth_cache_seconds: both must ask the DB

        # The first read past the check answers at once and re-checks in the background; once
        # that fails, answers say the store is unreachable and how old the state is.
        assert wait_for(
            lambda: "X-Promptstage-Store" in rt.get(f"{root}/prompts/greet/resolve").headers,
            timeout=10,
        )
        started = time.perf_counter()
        read = rt.get(f"{root}/prompts/greet/resolve", params={"label": "prod", "unit": "u1"})
        assert read.status_code == 200, read.text
        assert read.json()["version"] == v2
        assert read.headers["X-Promptstage-Store"] == "unreachable"
        assert int(read.headers["X-Promptstage-Stale-Seconds"]) >= 0
        assert read.headers["Age"] == read.headers["X-Promptstage-Stale-Seconds"]
        assert time.perf_counter() - started < 2.0

        snap = rt.get(f"{root}/snapshot")
        assert snap.status_code == 200 and snap.headers["ETag"] == etag
        assert snap.headers["X-Promptstage-Store"] == "unreachable"
        not_modified = rt.get(f"{root}/snapshot", headers={"If-None-Match": etag})
        assert not_modified.status_code == 304
        assert not_modified.headers["X-Promptstage-Store"] == "unreachable"

        # A key the server never verified cannot be checked: 503, never 401 or a pass.
        stranger = httpx.get(
            f"{server.url}{root}/snapshot",
            headers={"Authorization": "Bearer ps_abcdef012345_" + "0" * 64},
            timeout=10,
        )
        assert stranger.status_code == 503

        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "degraded" and body["store"] == "unreachable"
        assert "database" in body["reason"] and project in body["serving_from_memory"]

        # Fault 16: writes, a rollback included, fail loudly and fast; nothing changes.
        for method, path, payload in (
            ("POST", f"{root}/prompts/greet/labels/prod/rollback", {"reason": "bad answers"}),
            ("PUT", f"{root}/prompts/greet/labels/prod", {"version": v1, "expected_version": v2}),
            ("POST", f"{root}/prompts/greet/versions", {"template": "x", "config": CONFIG}),
        ):
            started = time.perf_counter()
            resp = api.http.request(method, path, json=payload)
            assert resp.status_code == 503, (method, path, resp.status_code, resp.text)
            assert resp.json()["error"]["code"] == "unavailable"
            assert time.perf_counter() - started < 6.0

        # A project this server never loaded: 503 with the reason, not a stale answer.
        other = api.http.get("/api/v1/projects/never-loaded/snapshot")
        assert other.status_code == 503 and "holds no state" in other.text

        proxy.set_mode("pass")
        assert wait_for(
            lambda: httpx.get(f"{server.url}/readyz", timeout=10).json()["status"] == "ready",
            timeout=15,
        )
        assert wait_for(
            lambda: "X-Promptstage-Store" not in rt.get(f"{root}/prompts/greet/resolve").headers,
            timeout=10,
        )
        healed = rt.get(f"{root}/prompts/greet/resolve")
        assert healed.json()["version"] == v2, "the refused rollback changed nothing"
        labels = api.http.get(f"{root}/prompts/greet").json()["labels"]
        assert labels["prod"] == v2
        versions = api.http.get(f"{root}/prompts/greet/versions").json()
        assert len(versions["items"]) == 2, "the refused version write stored nothing"
    api.close()


def test_a_slow_database_cancels_a_write_at_the_statement_timeout_and_reads_stay_fast(
    pg_server: tuple[ServerProcess, FaultProxy, str],
) -> None:
    server, proxy, direct = pg_server
    api = server.start().api()
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    token, _ = api.key(project)
    root = f"/api/v1/projects/{project}"
    with _runtime(server.url, token) as rt:
        assert rt.get(f"{root}/prompts/greet/resolve").status_code == 200

        # Someone holds the project's row lock (a stuck migration, a long report): the write
        # waits on it past statement_timeout (1 s here) and is cancelled and rolled back.
        engine = create_engine(direct)
        locked = threading.Event()
        release = threading.Event()

        def hold_lock() -> None:
            with engine.begin() as conn:
                conn.execute(
                    text("SELECT 1 FROM projects WHERE name = :n FOR UPDATE"), {"n": project}
                )
                locked.set()
                release.wait(10)

        holder = threading.Thread(target=hold_lock, daemon=True)
        holder.start()
        assert locked.wait(5)
        proxy.set_latency(0.05)  # and every round trip to the database is slow
        try:
            started = time.perf_counter()
            resp = api.http.put(
                f"{root}/prompts/greet/labels/prod", json={"version": v2, "expected_version": v1}
            )
            took = time.perf_counter() - started
            assert resp.status_code == 503, resp.text
            assert "statement timeout" in resp.text
            assert took < 5.0, f"the write took {took:.1f} s with statement_timeout=1 s"

            # Runtime reads meanwhile: from memory, far below the database's round trip.
            times = []
            for _ in range(50):
                started = time.perf_counter()
                assert rt.get(f"{root}/prompts/greet/resolve").json()["version"] == v1
                times.append(time.perf_counter() - started)
            times.sort()
            assert times[len(times) // 2] < 0.05, f"median read {times[25] * 1000:.0f} ms"
        finally:
            release.set()
            holder.join(5)
            proxy.set_latency(0)
            engine.dispose()
        # Rolled back whole: the label, its history and the audit trail are as before.
        assert api.http.get(f"{root}/prompts/greet").json()["labels"]["prod"] == v1
        history = api.http.get(f"{root}/prompts/greet/labels/prod/history").json()["items"]
        assert [h["version"] for h in history][:1] == [v1]
    api.close()


def test_break_glass_pin_serves_the_good_version_and_the_server_records_it_on_recovery(
    pg_server: tuple[ServerProcess, FaultProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, proxy, _ = pg_server
    api = server.start().api()
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    api.move(project, "greet", "staging", v1)  # the last good version stays held by a label
    api.move(project, "greet", "prod", v2)  # the bad one reaches prod
    token, _ = api.key(project)
    root = f"/api/v1/projects/{project}"
    with _runtime(server.url, token) as rt:  # the server holds the project and the key
        assert rt.get(f"{root}/snapshot").status_code == 200

    proxy.set_mode("reset")
    refused = api.http.post(f"{root}/prompts/greet/labels/prod/rollback", json={})
    assert refused.status_code == 503, "a rollback with the store down must fail loudly"

    # Break-glass: the operator pins prod to v1 in the agent's environment and restarts it.
    monkeypatch.setenv("PROMPTSTAGE_PIN", f"greet:prod={v1}")
    with Client(server.url, project, token, **FAST) as ps:
        p = ps.get("greet", label="prod", unit="user-1")
        assert p.version == v1 and p.arm == "pinned"
        assert p.render(name="Ana") == "Hello v1 Ana."
        assert ps.get("greet", label="staging").arm != "pinned"
        status = ps.status()
        assert status.pins == {"greet:prod": v1} and status.unmet_pins == ()
        with ps.call(p, variables={"name": "Ana"}) as call:
            call.finish(output="hi")
        time.sleep(0.5)  # the record is refused (503) and kept for retry meanwhile
        assert ps.status().pending_calls >= 1

        proxy.set_mode("pass")  # the store is back: the queued record lands
        assert wait_for(lambda: ps.status().pending_calls == 0, timeout=15)
    recorded = api.get_call(project, call.id)
    assert recorded["version"] == v1 and recorded["arm"] == "pinned"
    api.close()


def test_a_pin_of_a_version_not_held_is_reported_and_the_label_served(
    pg_server: tuple[ServerProcess, FaultProxy, str],
) -> None:
    server, _, _ = pg_server
    api = server.start().api()
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    api.move(project, "greet", "prod", v2)
    token, _ = api.key(project)
    with Client(server.url, project, token, pins=f"greet:prod={v1}", **FAST) as ps:
        assert ps.get("greet").version == v2
        (reason,) = ps.status().unmet_pins
        assert f"greet:prod={v1}" in reason and "not held" in reason
    api.close()


def test_a_server_started_while_the_database_is_down_answers_503_then_recovers(
    pg_server: tuple[ServerProcess, FaultProxy, str],
) -> None:
    server, proxy, _ = pg_server
    proxy.set_mode("reset")  # down before the server starts: nothing is held, nothing migrated
    server.start(ready="/healthz")
    assert "cannot be reached" in server.tail() and "503" in server.tail()
    ready = httpx.get(f"{server.url}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and "database" in ready.json()["reason"]
    api = server.api()
    snap = api.http.get("/api/v1/projects/clinic/snapshot")
    assert snap.status_code == 503 and "holds no state" in snap.json()["error"]["message"]
    assert api.http.post("/api/v1/projects", json={"name": "clinic"}).status_code == 503

    proxy.set_mode("pass")  # the database answers: migrations run, the server is ready
    assert wait_for(
        lambda: httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, timeout=20
    )
    assert wait_for(
        lambda: api.http.post("/api/v1/projects", json={"name": "clinic"}).status_code == 201,
        timeout=10,
    )
    api.close()
