"""Real ``promptstage serve`` processes and a small admin API client for the integration tests."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

PROMPTSTAGE = Path(sys.executable).with_name("promptstage")
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
    "params": {"temperature": 0.2},
}
# Client tunables that keep every scenario to seconds: quick reconnects, short read timeouts.
FAST = {
    "init_timeout": 5.0,
    "backoff_initial": 0.05,
    "backoff_max": 0.2,
    "backoff_reset_after": 60.0,
    "stream_read_timeout": 2.0,
    "timeout": httpx.Timeout(2.0),
    "flush_interval": 0.05,
    "close_timeout": 3.0,
}
HEARTBEAT = "0.5"  # server heartbeats well inside FAST's stream_read_timeout


def admin_token() -> str:
    """A fresh instance admin key ``ps_<prefix>_<secret>``."""
    return f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.01
) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` seconds pass; return the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return bool(predicate())
        time.sleep(interval)


class ServerProcess:
    """``promptstage serve`` in a subprocess on a fixed port and database.

    ``start()`` waits for ``/readyz``; ``kill()`` sends SIGKILL (a crash); ``stop()`` SIGTERM;
    ``start()`` again reuses the same port and database.
    """

    def __init__(
        self,
        database_url: str,
        folder: Path,
        *,
        admin_key: str | None = None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.folder = folder
        self.admin_key = admin_key or admin_token()
        self.port = port or free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 40.0, ready: str = "/readyz") -> ServerProcess:
        """Start the process and wait until ``ready`` (default ``/readyz``) answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        env = {
            **os.environ,
            "PROMPTSTAGE_ADMIN_KEY": self.admin_key,
            "PROMPTSTAGE_DATABASE_URL": self.database_url,
            "PROMPTSTAGE_SSE_HEARTBEAT_SECONDS": HEARTBEAT,
            "PROMPTSTAGE_LOG_LEVEL": "warning",
            "PROMPTSTAGE_EVAL_GATE": "0",  # tests of other features; env= turns it on
            **self.extra_env,
        }
        log = self.folder / f"server-{self.port}-{self.starts}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(PROMPTSTAGE), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.log = log
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}{ready}", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server not ready within {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self) -> str:
        """The end of the current log."""
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL (no graceful shutdown) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def api(self) -> Api:
        """An admin API client of this server."""
        return Api(self.url, self.admin_key)


class Api:
    """The few admin calls the tests need, raising on any unexpected status."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )

    def close(self) -> None:
        """Release the connection."""
        self.http.close()

    def _call(
        self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)
    ) -> Any:
        resp = self.http.request(method, path, json=body)
        assert resp.status_code in expect, f"{method} {path} -> {resp.status_code}: {resp.text}"
        return resp.json() if resp.content else None

    def project(self, name: str | None = None) -> str:
        """Create a project and return its name."""
        name = name or f"it-{secrets.token_hex(4)}"
        self._call("POST", "/api/v1/projects", {"name": name})
        return name

    def prompt(self, project: str, name: str, type_: str = "text") -> None:
        """Create a prompt."""
        self._call("POST", f"/api/v1/projects/{project}/prompts", {"name": name, "type": type_})

    def version(
        self, project: str, name: str, template: Any, variables: list[dict[str, Any]] | None = None
    ) -> int:
        """Write a version; return its number."""
        body: dict[str, Any] = {"template": template, "config": CONFIG}
        if variables is not None:
            body["variables"] = variables
        out = self._call("POST", f"/api/v1/projects/{project}/prompts/{name}/versions", body)
        return int(out["version"])

    def move(self, project: str, name: str, label: str, version: int) -> None:
        """Point ``label`` at ``version`` (compare-and-set on the label as read just before)."""
        path = f"/api/v1/projects/{project}/prompts/{name}"
        current = self._call("GET", path)["labels"].get(label)
        self._call(
            "PUT", f"{path}/labels/{label}", {"version": version, "expected_version": current}
        )

    def key(self, project: str, role: str = "runtime") -> tuple[str, str]:
        """Create an API key; return ``(token, prefix)``."""
        out = self._call("POST", f"/api/v1/projects/{project}/keys", {"role": role})
        return str(out["token"]), str(out["prefix"])

    def revoke(self, project: str, prefix: str) -> None:
        """Revoke a key."""
        self._call("DELETE", f"/api/v1/projects/{project}/keys/{prefix}")

    def snapshot(self, project: str) -> dict[str, Any]:
        """``GET /snapshot``."""
        out: dict[str, Any] = self._call("GET", f"/api/v1/projects/{project}/snapshot")
        return out

    def get_call(self, project: str, call_id: str) -> dict[str, Any]:
        """``GET /calls/{id}``."""
        out: dict[str, Any] = self._call("GET", f"/api/v1/projects/{project}/calls/{call_id}")
        return out

    def setup(
        self,
        prompt: str = "greet",
        texts: tuple[str, ...] = ("Hello v1 {{ name }}.",),
        label: str = "prod",
    ) -> tuple[str, list[int]]:
        """A new project with ``prompt`` (text, one variable), its versions, ``label`` at v1."""
        project = self.project()
        self.prompt(project, prompt)
        variables = [{"name": "name", "type": "string", "required": True}]
        numbers = [self.version(project, prompt, text, variables) for text in texts]
        self.move(project, prompt, label, numbers[0])
        return project, numbers
