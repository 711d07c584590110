"""SDK fixtures: a client factory on the fake server, a TCP server that never answers."""

from __future__ import annotations

import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from promptstage.sdk import Client

from .helpers import FAST, PROJECT, FakeServer, basic_snapshot


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def make_client(server: FakeServer) -> Iterator[Callable[..., Client]]:
    """``make_client(**settings)``: a Client on the fake server, closed after the test."""
    made: list[Client] = []

    def make(**settings: Any) -> Client:
        options: dict[str, Any] = {**FAST, "transport": httpx.MockTransport(server.handler)}
        options.update(settings)
        client = Client("http://promptstage.test", PROJECT, "ps_test_secret", **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close(timeout=1.0)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback TCP server that accepts connections and never answers; yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(1.0)
    for conn in accepted:
        conn.close()
    listener.close()


class LiveServer:
    """A real HTTP server on loopback: ``/snapshot`` and an ``/events`` stream that stays
    silent (no heartbeat) unless frames are pushed, like a blackholed connection."""

    def __init__(self) -> None:
        self.snapshot = basic_snapshot()
        self.frames: queue.Queue[bytes] = queue.Queue()
        self.streams = 0
        self.stop = threading.Event()
        live = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.endswith("/snapshot"):
                    body = json.dumps(live.snapshot).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("ETag", f'"{live.snapshot["seq"]}"')
                    self.end_headers()
                    self.wfile.write(body)
                    return
                live.streams += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(
                    f'event: hello\ndata: {{"seq": {live.snapshot["seq"]}}}\n\n'.encode()
                )
                self.wfile.flush()
                while not live.stop.is_set():
                    try:
                        frame = live.frames.get(timeout=0.02)
                    except queue.Empty:
                        continue
                    try:
                        self.wfile.write(frame)
                        self.wfile.flush()
                    except OSError:
                        return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2.0)


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    live = LiveServer()
    yield live
    live.close()
