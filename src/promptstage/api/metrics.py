"""A few Prometheus metrics, kept in process (no client library needed for this little)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from promptstage.api.paths import route_template

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.sse_clients = 0
        self.started = time.time()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            self.seconds[(method, route)] += seconds

    def render(self) -> str:
        lines = [
            "# HELP promptstage_http_requests_total HTTP requests by method, route and status.",
            "# TYPE promptstage_http_requests_total counter",
        ]
        with self._lock:
            requests = sorted(self.requests.items())
            seconds = sorted(self.seconds.items())
        lines += [
            f'promptstage_http_requests_total{{method="{m}",route="{r}",status="{s}"}} {n}'
            for (m, r, s), n in requests
        ]
        lines += [
            "# HELP promptstage_http_request_seconds_total Time spent answering, by method and route.",
            "# TYPE promptstage_http_request_seconds_total counter",
        ]
        lines += [
            f'promptstage_http_request_seconds_total{{method="{m}",route="{r}"}} {t:.6f}'
            for (m, r), t in seconds
        ]
        lines += [
            "# HELP promptstage_sse_clients Connected /events streams.",
            "# TYPE promptstage_sse_clients gauge",
            f"promptstage_sse_clients {self.sse_clients}",
            "# HELP promptstage_start_time_seconds Process start time.",
            "# TYPE promptstage_start_time_seconds gauge",
            f"promptstage_start_time_seconds {self.started:.0f}",
        ]
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Count requests by route template (not raw path, to keep label cardinality bounded)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app, metrics = self.app, self.metrics
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            path = route_template(scope) or "unmatched"
            metrics.observe(scope["method"], path, status, time.perf_counter() - start)
