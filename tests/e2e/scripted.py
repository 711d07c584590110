"""A scripted HTTP server: answers each path from a list, records when each request came."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class Scripted:
    """Answers ``/snapshot`` and ``/events`` from per-path scripts (the last answer repeats)."""

    def __init__(self, scripts: dict[str, list[Answer]]) -> None:
        self.scripts = scripts
        self.seen: dict[str, list[float]] = {path: [] for path in scripts}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0].rsplit("/", 1)[-1]
                times = outer.seen.setdefault(path, [])
                times.append(time.monotonic())
                script = outer.scripts.get(path, [(404, {}, b"{}")])
                status, headers, body = script[min(len(times), len(script)) - 1]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
