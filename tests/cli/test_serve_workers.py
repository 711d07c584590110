"""``promptstage serve --workers N``: N processes serve, one leads (SQLite as Postgres)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _try_lead(url: str) -> bool:
    code = (
        "from promptstage.store.sql import SqlStore\n"
        f"print(SqlStore.from_url({url!r}).leadership('release-controller').acquire())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    return out.stdout.strip() == "True"


def test_two_workers_serve_and_one_of_them_leads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    port = _free_port()
    key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMPTSTAGE_")},
        "PYTHONPATH": os.pathsep.join(sys.path),
        "PROMPTSTAGE_ADMIN_KEY": key,
        "PROMPTSTAGE_CONTROLLER_INTERVAL": "1",  # a worker retries the lead every second
    }
    server = subprocess.Popen(
        [str(BIN / "promptstage"), "serve", "--workers", "2", "--port", str(port),
         "--database-url", url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "serve --workers 2 did not answer within 60 s"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(10):  # both workers answer (connections are spread between them)
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/projects", headers=headers)
            assert answer.status_code == 200
        deadline = time.monotonic() + 30
        while _try_lead(url):  # until a worker has taken the lead (its first controller pass)
            assert time.monotonic() < deadline, "no worker took the leader lock"
            time.sleep(0.5)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert "workers: 2 processes" in out
    assert _try_lead(url)  # released when the workers stopped
