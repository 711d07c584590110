"""How much of the API a fuzz run reached, measured inside the server under test.

An operation is **reached** when its handler (the route's endpoint function) was called for at
least one fuzzed request and answered it with anything but 401, 403 or a 404 about the project:
routing, authentication, authorization and request validation let the request through, and the
handler got past looking its project up. A 404 the handler answers about another object the
request named (an unknown release id, a version that does not exist) counts: the handler did
its work. Answers given before the handler (unknown route, bad key, a body that does not parse)
never count. Two stricter figures go with it: **found** (the handler answered other than
401/403/404 at least once: every object the path named exists) and **2xx** (at least one
request succeeded). All are counted per OpenAPI operation (``METHOD /path`` as in
``/openapi.json``).
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from fastapi.routing import APIRoute

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_entered: ContextVar[list[bool] | None] = ContextVar("fuzz_handler_entered", default=None)
_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def operation_label(method: str, path: str) -> str:
    """``GET /api/v1/projects/{project}/evals/suites/{name}`` (converters dropped)."""
    return f"{method.upper()} {_CONVERTER.sub(_drop_converter, path)}"


def _drop_converter(match: re.Match[str]) -> str:
    return "{" + match.group(1) + "}"


# A handler's answers that do not count as reaching it: the request was refused before any
# work on the operation's own objects (the project does not exist; no key; no permission).
NOT_REACHED = {"401", "403", "404 project"}


@dataclass
class Reach:
    """Per operation: how many requests came, and the outcomes (``"200"``, ``"422"``, and for a
    404 the field it names: ``"404 release_id"``) of those its handler was called for
    (``handled``) and of the others (``refused``, answered before the handler)."""

    requests: Counter[str] = field(default_factory=Counter)
    handled: dict[str, Counter[str]] = field(default_factory=dict)
    refused: dict[str, Counter[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, label: str, outcome: str, handled: bool) -> None:
        with self.lock:
            self.requests[label] += 1
            into = self.handled if handled else self.refused
            into.setdefault(label, Counter())[outcome] += 1

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.handled.clear()
            self.refused.clear()

    def _with(self, keep: Callable[[str], bool]) -> set[str]:
        with self.lock:
            return {label for label, seen in self.handled.items() if any(map(keep, seen))}

    def reached(self) -> set[str]:
        """Operations whose handler was called and answered other than ``NOT_REACHED``."""
        return self._with(lambda outcome: outcome not in NOT_REACHED)

    def found(self) -> set[str]:
        """Operations whose handler answered other than 401, 403 or 404 at least once: every
        object the request named exists."""
        return self._with(lambda outcome: outcome[:3] not in {"401", "403", "404"})

    def succeeded(self) -> set[str]:
        """Operations that answered a 2xx at least once."""
        return self._with(lambda outcome: outcome.startswith("2"))

    def summary(self, operations: list[str]) -> str:
        """One line of figures, then the operations not reached or without a 2xx."""
        wanted = set(operations)
        reached, found, succeeded = self.reached(), self.found(), self.succeeded()
        total = len(operations)
        lines = [
            f"fuzz reach: {len(reached & wanted)}/{total} operations reached (handler called), "
            f"{len(found & wanted)}/{total} found what they were asked for (handler answered "
            f"other than 401/403/404), {len(succeeded & wanted)}/{total} answered a 2xx; "
            f"{sum(self.requests.values())} requests"
        ]
        for label in operations:
            handled = dict(self.handled.get(label, {}))
            if label not in reached:
                refused = dict(self.refused.get(label, {}))
                lines.append(f"  not reached: {label} (handler: {handled}, before: {refused})")
            elif label not in found:
                lines.append(f"  not found: {label} (handler: {handled})")
            elif label not in succeeded:
                lines.append(f"  no 2xx: {label} (handler: {handled})")
        return "\n".join(lines)


def instrument(app: FastAPI, reach: Reach) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app to serve instead of ``app``: it records each request's operation, status,
    and whether FastAPI called the operation's endpoint function for it."""
    _watch_endpoint_calls()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = [0]
        body = bytearray()
        entered = [False]
        token = _entered.set(entered)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and status[0] == 404:
                body.extend(message.get("body", b"")[:4096])
            await send(message)

        try:
            await app(scope, receive, watch)
        finally:
            _entered.reset(token)
            route = scope.get("route")
            if isinstance(route, APIRoute):
                outcome = _outcome(status[0], bytes(body))
                reach.record(operation_label(scope["method"], route.path), outcome, entered[0])

    return recording


def _outcome(status: int, body: bytes) -> str:
    """``"404 <field>"`` for a 404 naming the missing object's field, else the status."""
    if status == 404:
        try:
            return f"404 {json.loads(body)['error']['field']}"
        except (ValueError, KeyError, TypeError):
            return "404 ?"
    return str(status)


def _watch_endpoint_calls() -> None:
    """FastAPI calls every non-streaming endpoint through ``fastapi.routing.run_endpoint_function``
    (after dependencies and validation): wrap it, once per process, to mark the request being
    recorded. Outside a recorded request the wrapper only forwards the call."""
    original = getattr(fastapi.routing, "run_endpoint_function", None)
    if original is None:
        raise RuntimeError(
            "fastapi.routing.run_endpoint_function is gone: the fuzz reach cannot be measured "
            "with this FastAPI version; update tests/e2e/fuzz/reach.py"
        )
    if getattr(original, "_fuzz_reach", False):
        return

    @functools.wraps(original)
    async def marking(*args: Any, **kwargs: Any) -> Any:
        entered = _entered.get()
        if entered is not None:
            entered[0] = True
        return await original(*args, **kwargs)

    marking._fuzz_reach = True  # type: ignore[attr-defined]
    fastapi.routing.run_endpoint_function = marking  # type: ignore[attr-defined]
