"""One-click rollback: the confirmation names the version, the POST rolls back at once, and the
result page counts the connected SDK clients (real SSE streams on a real server) that have it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from promptstage.service import keys, prompts

from .conftest import PROJECT, Ui
from .ship_support import BASE, as_user, hidden_fields, seed

ROLLBACK = f"{BASE}/greet/labels/prod/rollback"


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on a free port in a thread (no lifespan: the test client runs it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", ws="none", lifespan="off", timeout_graceful_shutdown=2
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class Listener:
    """An SDK-like client following the project's event stream in a thread."""

    def __init__(self, url: str, token: str) -> None:
        self.ids: list[int] = []
        self.hello = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, token), daemon=True)
        self.thread.start()
        assert self.hello.wait(5), "no hello"

    def _run(self, url: str, token: str) -> None:
        with httpx.stream(
            "GET",
            f"{url}/api/v1/projects/{PROJECT}/events",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ) as response:
            for line in response.iter_lines():
                if line == "event: hello":
                    self.hello.set()
                elif line.startswith("id: "):
                    self.ids.append(int(line[4:]))
                if self.stop.is_set():
                    return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def eventually(check: Callable[[], str | None], seconds: float = 8) -> str:
    """Poll ``check`` until it returns text, or fail with the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_rollback_confirms_the_version_applies_at_once_and_counts_connected_clients(
    make_ui: Callable[..., Ui],
) -> None:
    ui = make_ui(sse_heartbeat_seconds=0.2)
    seed(ui.ctx)
    _, token = keys.create_key(ui.ctx, "test", PROJECT, "sdk", "runtime")
    with serving(ui.app) as url, ui.client() as browser:
        first, second = Listener(url, token), Listener(url, token)
        as_user(browser, "alice")
        confirm = browser.get(ROLLBACK)
        assert "returns it to <strong>version 1</strong>" in confirm.text
        dialog = browser.get(ROLLBACK, headers={"HX-Request": "true"})
        assert dialog.text.lstrip().startswith("<h2>Roll back prod?</h2>")  # the <dialog> body
        form = {**hidden_fields(confirm.text), "reason": "complaints"}
        done = browser.post(ROLLBACK, data=form)
        assert done.status_code == 303
        assert prompts.get_prompt(ui.ctx, PROJECT, "greet")[1]["prod"] == 1  # at once
        result = done.headers["location"]
        seq = int(result.rsplit("seq=", 1)[1])
        page = browser.get(result)
        assert "prod of greet serves version 1" in page.text
        assert 'hx-trigger="every 1s"' in page.text
        fragment = result.replace("/result?", "/propagation?")

        def counted(expected: str) -> Callable[[], str | None]:
            def check() -> str | None:
                text = browser.get(fragment, headers={"HX-Request": "true"}).text
                return text if expected in text else None

            return check

        eventually(counted("<strong>2 of 2</strong> connected clients serve version 1"))
        assert seq in first.ids and seq in second.ids  # what the registry counted was sent
        second.close()
        eventually(counted("<strong>1 of 1</strong> connected client serve version 1"))
        first.close()


def test_an_editor_is_not_offered_a_protected_rollback_and_a_forced_post_is_refused(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    token = as_user(browser, "erin")
    page = browser.get(ROLLBACK)
    assert "You cannot roll back this label" in page.text and "releaser" in page.text
    assert "Roll back prod to" not in page.text
    forced = browser.post(ROLLBACK, data={"csrf": token, "to_version": "1"})
    assert forced.status_code == 403 and "Not allowed" in forced.text
    assert prompts.get_prompt(ui.ctx, PROJECT, "greet")[1]["prod"] == 2
    staging = browser.get(f"{BASE}/greet/labels/staging/rollback")
    assert "has no earlier version to return to" in staging.text
