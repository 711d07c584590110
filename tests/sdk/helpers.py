"""SDK test helpers: snapshot builders and an in-process fake server."""

from __future__ import annotations

import asyncio
import copy
import json
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from promptstage.domain.canonical import version_digest

PROJECT = "clinic"
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
    "params": {"temperature": 0.2},
    "tools": [],
    "retrieval": None,
    "postprocess": None,
    "metadata": {},
}
# Tunables that keep every test well under a second.
FAST = {
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "flush_interval": 0.02,
    "init_timeout": 1.0,
    "close_timeout": 1.0,
}


def version(
    prompt: str,
    number: int,
    template: Any,
    *,
    type_: str | None = None,
    variables: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A version in its wire form, with a correct digest."""
    type_ = type_ or ("text" if isinstance(template, str) else "chat")
    variables = variables if variables is not None else []
    config = config or CONFIG
    return {
        "prompt": prompt,
        "version": number,
        "digest": version_digest(type_, template, variables, config),
        "type": type_,
        "template": template,
        "variables": variables,
        "config": config,
        "includes": {},
        "author": "key:test",
        "message": "",
        "parent": number - 1 or None,
        "created_at": "2026-11-26T17:00:00.000000Z",
    }


def var(name: str, type_: str | None = "string", required: bool = True) -> dict[str, Any]:
    return {"name": name, "type": type_, "required": required}


def snapshot(
    versions: list[dict[str, Any]],
    labels: dict[str, dict[str, int]],
    *,
    seq: int = 1,
    releases: list[dict[str, Any]] | None = None,
    project: str = PROJECT,
) -> dict[str, Any]:
    """A snapshot holding ``versions``; ``labels`` maps prompt -> {label: version}."""
    prompts = {}
    for name, lab in labels.items():
        type_ = next(v["type"] for v in versions if v["prompt"] == name)
        prompts[name] = {"type": type_, "labels": dict(lab)}
    return {
        "format": 1,
        "project": project,
        "seq": seq,
        "prompts": prompts,
        "versions": {f"{v['prompt']}@{v['version']}": v for v in versions},
        "releases": releases or [],
    }


def basic_snapshot(seq: int = 1) -> dict[str, Any]:
    """booking.system (chat, prod=1, latest=2) and router.intent (text, prod=1)."""
    v1 = version(
        "booking.system",
        1,
        [{"role": "system", "content": "You book for {{ clinic }}."}],
        variables=[var("clinic")],
    )
    v2 = version(
        "booking.system",
        2,
        [{"role": "system", "content": "You book appointments for {{ clinic }}."}],
        variables=[var("clinic")],
    )
    r1 = version("router.intent", 1, "Route: {{ text }}", variables=[var("text")])
    return snapshot(
        [v1, v2, r1],
        {"booking.system": {"prod": 1, "latest": 2}, "router.intent": {"prod": 1, "latest": 1}},
        seq=seq,
    )


V3 = version(
    "booking.system",
    3,
    [{"role": "system", "content": "v3 for {{ clinic }}"}],
    variables=[var("clinic")],
)


def moved_snapshot(seq: int) -> dict[str, Any]:
    """basic_snapshot after booking.system@3 was written and prod moved to it."""
    snap = basic_snapshot(seq)
    snap["versions"]["booking.system@3"] = copy.deepcopy(V3)
    del snap["versions"]["booking.system@1"], snap["versions"]["booking.system@2"]
    snap["prompts"]["booking.system"]["labels"] = {"prod": 3, "latest": 3}
    return snap


def sse(event: str, data: Any, id_: int | None = None) -> bytes:
    head = f"id: {id_}\n" if id_ is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class FakeServer:
    """The runtime endpoints of a promptstage server, for ``httpx.MockTransport``.

    Tests push SSE frames with :meth:`push`; a stream ends when :meth:`drop` is called.
    """

    def __init__(self, snap: dict[str, Any] | None = None) -> None:
        self.snapshot = snap if snap is not None else basic_snapshot()
        self.snapshot_status: int | None = None
        self.events_status: int | None = None
        self.ingest_status = 202
        self.ingest_gate: threading.Event | None = None  # ingest answers once it is set
        self.connect_error = False
        self.requests: list[httpx.Request] = []
        self.calls: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.frames: queue.Queue[bytes | None] = queue.Queue()
        self.hello = True
        self.streams = 0

    # -- test controls
    def push(self, frame: bytes) -> None:
        self.frames.put(frame)

    def drop(self) -> None:
        """End the current stream (the client reconnects)."""
        self.frames.put(None)

    def count(self, path_end: str) -> int:
        return sum(1 for r in self.requests if r.url.path.endswith(path_end))

    # -- handlers
    def _common(self, request: httpx.Request) -> httpx.Response | None:
        self.requests.append(request)
        if self.connect_error:
            raise httpx.ConnectError("connection refused", request=request)
        path = request.url.path
        if not path.startswith(f"/api/v1/projects/{PROJECT}/"):
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})
        if path.endswith("/snapshot"):
            if self.snapshot_status is not None:
                return httpx.Response(
                    self.snapshot_status,
                    json={"error": {"code": "x", "message": f"status {self.snapshot_status}"}},
                )
            etag = f'"{self.snapshot["seq"]}"'
            if request.headers.get("if-none-match") == etag:
                return httpx.Response(304, headers={"ETag": etag})
            return httpx.Response(200, json=self.snapshot, headers={"ETag": etag})
        if path.endswith(("/calls", "/scores")):
            if self.ingest_gate is not None:
                self.ingest_gate.wait(10)
            body = json.loads(request.content)
            if self.ingest_status == 202:
                (self.calls if path.endswith("/calls") else self.scores).extend(
                    body.get("calls") or body.get("scores") or []
                )
            return httpx.Response(self.ingest_status, json={})
        if path.endswith("/events") and self.events_status is not None:
            return httpx.Response(self.events_status, json={"error": {"message": "nope"}})
        return None

    def _hello(self) -> bytes:
        return sse("hello", {"seq": self.snapshot["seq"]}) if self.hello else b": hi\n\n"

    def handler(self, request: httpx.Request) -> httpx.Response:
        answer = self._common(request)
        if answer is not None:
            return answer
        self.streams += 1

        def frames() -> Iterator[bytes]:
            yield self._hello()
            while True:
                try:
                    frame = self.frames.get(timeout=0.01)
                except queue.Empty:
                    yield b": heartbeat\n\n"
                    continue
                if frame is None:
                    return
                yield frame

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=frames())

    async def ahandler(self, request: httpx.Request) -> httpx.Response:
        answer = self._common(request)
        if answer is not None:
            return answer
        self.streams += 1

        async def frames() -> AsyncIterator[bytes]:
            yield self._hello()
            while True:
                try:
                    frame = self.frames.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.01)
                    yield b": heartbeat\n\n"
                    continue
                if frame is None:
                    return
                yield frame

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=frames())


def refuse(request: httpx.Request) -> httpx.Response:
    """A transport handler for a server that is down: every connection is refused."""
    raise httpx.ConnectError("connection refused", request=request)


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


async def await_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.005)
    return predicate()
