"""Network and payload faults between a real server and a real client (through FaultProxy)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from promptstage import Client
from promptstage.errors import IntegrityError
from promptstage.sdk.lkg import checksum, read_lkg

from ..proxy import FaultProxy
from ..servers import FAST, Api, ServerProcess, wait_for

VARIABLES = [{"name": "name", "type": "string", "required": True}]


def test_partition_then_heal_converges_within_one_reconnect(
    api: Api, shared_server: ServerProcess, make_proxy: Callable[[int], FaultProxy]
) -> None:
    project, (v1, v2) = api.setup(texts=("Hello v1 {{ name }}.", "Hello v2 {{ name }}."))
    token, _ = api.key(project)
    proxy = make_proxy(shared_server.port)
    with Client(proxy.url, project, token, **FAST) as ps:
        assert ps.get("greet").version == v1
        assert wait_for(lambda: ps.status().state == "connected")

        proxy.set_mode("blackhole")  # no RST: the open stream just goes silent
        api.move(project, "greet", "prod", v2)  # straight to the server, not through the proxy
        # The silence is noticed after stream_read_timeout; what is held keeps being served.
        assert wait_for(lambda: ps.status().state == "stale", timeout=10)
        started = time.perf_counter()
        assert ps.get("greet").version == v1
        assert time.perf_counter() - started < 0.01

        healed = time.monotonic()
        requests_at_heal = proxy.requests
        proxy.set_mode("pass")
        assert wait_for(lambda: ps.get("greet").version == v2, timeout=15)
        took = time.monotonic() - healed
        # One attempt that may still be stuck in the blackhole (its read timeout), one backoff
        # delay, one snapshot fetch: the bound, with slack for a loaded machine.
        bound = FAST["timeout"].read + FAST["backoff_max"] + 2.0
        assert took <= bound, f"converged {took:.2f} s after healing (bound {bound:.1f} s)"
        assert proxy.requests - requests_at_heal <= 2, "one reconnect: a snapshot (+ the stream)"
        assert wait_for(lambda: ps.status().state == "connected")
        assert ps.get("greet").render(name="Ana") == "Hello v2 Ana."


def test_tampered_payload_is_rejected_and_the_previous_state_kept(
    api: Api, shared_server: ServerProcess, make_proxy: Callable[[int], FaultProxy]
) -> None:
    project, (v1,) = api.setup()
    token, _ = api.key(project)
    proxy = make_proxy(shared_server.port)
    with Client(proxy.url, project, token, **FAST) as ps:
        assert ps.get("greet").version == v1
        assert wait_for(lambda: ps.status().state == "connected")

        # The proxy rewrites the template text in every answer (stream and snapshot) and
        # leaves the digest alone: the content no longer hashes to it.
        proxy.set_mode("rewrite", old=b"Be polite.", new=b"Be rude!!.")
        v2 = api.version(project, "greet", "Hello v2 {{ name }}. Be polite.", VARIABLES)
        api.move(project, "greet", "prod", v2)
        # The tampered event is rejected, then the refetched (tampered) snapshot too.
        assert wait_for(lambda: "snapshot rejected" in (ps.status().last_error or ""), timeout=10)
        status = ps.status()
        assert status.state == "stale"
        assert f"greet@{v2}: digest mismatch" in (status.last_error or "")
        p = ps.get("greet")
        assert p.version == v1 and p.render(name="Ana") == "Hello v1 Ana."
        # It keeps rejecting while the tampering lasts (several refetches), never serving it.
        seen = proxy.requests
        assert wait_for(lambda: proxy.requests >= seen + 2, timeout=10)
        assert ps.get("greet").version == v1

        proxy.set_mode("pass")
        assert wait_for(lambda: ps.get("greet").version == v2, timeout=10)
        assert ps.get("greet").render(name="Ana") == "Hello v2 Ana. Be polite."
        assert wait_for(lambda: ps.status().last_error is None)


def _damage(path: Path, how: str) -> None:
    text = path.read_text(encoding="utf-8")
    if how == "truncated":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif how == "edited":
        path.write_text(text.replace("Hello v1", "Hacked!!"), encoding="utf-8")
    else:  # edited, and the envelope checksum recomputed: the version digest still catches it
        envelope = json.loads(text.replace("Hello v1", "Hacked!!"))
        envelope["checksum"] = checksum(envelope["snapshot"], envelope["etag"])
        path.write_text(json.dumps(envelope), encoding="utf-8")


@pytest.mark.parametrize("how", ["truncated", "edited", "edited-with-checksum"])
def test_corrupt_last_known_good_is_ignored(
    api: Api,
    shared_server: ServerProcess,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    project, (v1,) = api.setup()
    token, _ = api.key(project)
    cache = tmp_path / "lkg.json"
    with Client(shared_server.url, project, token, cache_path=cache, **FAST) as warm:
        assert warm.get("greet").version == v1
    _damage(cache, how)

    with (
        caplog.at_level(logging.WARNING, logger="promptstage"),
        Client(shared_server.url, project, token, cache_path=cache, **FAST) as ps,
    ):
        if how == "edited-with-checksum":
            # The envelope is intact, so the file is loaded (verified lazily): the edited
            # version is refused on first use, never served, until the server's answer.
            try:
                served = ps.get("greet").render(name="Ana")
            except IntegrityError as exc:
                assert "digest mismatch" in exc.message
            else:
                assert served == "Hello v1 Ana."  # the server's snapshot came first
            assert wait_for(lambda: ps.status().source == "server")
        assert ps.status().source == "server"
        p = ps.get("greet")
        assert p.version == v1 and p.render(name="Ana") == "Hello v1 Ana."
    if how != "edited-with-checksum":
        assert "ignoring last-known-good file" in caplog.text
    repaired = read_lkg(cache)  # rewritten from the server's answer
    assert repaired is not None and "Hacked" not in json.dumps(repaired[0])


def test_revoked_key_keeps_serving_and_does_not_hammer(
    api: Api, shared_server: ServerProcess, make_proxy: Callable[[int], FaultProxy]
) -> None:
    project, (v1,) = api.setup()
    token, prefix = api.key(project)
    proxy = make_proxy(shared_server.port)
    # Reconnect backoff tiny: only the 401 rule (auth_retry_interval) can slow the retries.
    tuning = {**FAST, "backoff_initial": 0.01, "backoff_max": 0.02, "auth_retry_interval": 1.0}
    with Client(proxy.url, project, token, **tuning) as ps:
        assert ps.get("greet").version == v1
        assert wait_for(lambda: ps.status().state == "connected")

        api.revoke(project, prefix)  # the server ends the key's stream; the client reconnects
        assert wait_for(lambda: "(401" in (ps.status().last_error or ""), timeout=10)
        status = ps.status()
        assert status.state == "stale" and "rejected the API key" in (status.last_error or "")

        before = proxy.requests
        window = 2.5
        time.sleep(window)  # an observation window: count what the client sends in it
        sent = proxy.requests - before
        assert sent <= window / tuning["auth_retry_interval"] + 2, f"{sent} requests in {window} s"
        p = ps.get("greet")
        assert p.version == v1 and p.render(name="Ana") == "Hello v1 Ana."
        assert "(401" in (ps.status().last_error or "")
