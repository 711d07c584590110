"""The fast path of ``GET .../prompts/{name}/resolve``: answered from memory in a few
microseconds when every check passes, else handed on, unchanged, to the middleware stack and
the FastAPI route, which explain.

FastAPI's routing (a regex per route until one matches) and dependency solving cost most of a
resolve, and each middleware layer costs a coroutine and a wrapped ``send`` per request.
:class:`FastResolver` stands in front of the whole app (:class:`FastPathApp`: before
Starlette's error layer and every middleware), or, when OpenTelemetry traces every request,
just inside the request span (:class:`RuntimeFastPath`). It answers only when it can answer
exactly as the stack would:

- the path is ``/api/v1/projects/{project}/prompts/{name}/resolve`` and the method ``GET``;
- the server is past its startup gate (``api/startup.py``);
- every path and query parameter is storable text (``inputs.check_params``);
- ``label`` and ``unit`` appear at most once and within their lengths, ``render`` is absent,
  and there are at most ``MAX_ATTRS`` context attributes and variables;
- the bearer key authenticates from memory (``Authenticator.authenticate_cached``) and holds
  the runtime role on the project (``access.check``);
- the project's state is answered from memory (``StateCache.peek``) and the label resolves;
- the rate limits let the request through (``RateLimits.refusal``, for the client address
  ``ClientAddress`` would set).

It then does for its answer what each layer it skips does for a ``GET`` that the route
answers: the path as ``EncodedSlashes`` rebuilds it (a folder's ``%2F`` stays in its
segment), the security headers of an API answer (``SecurityHeaders``), the request counted
under the route's template (``MetricsMiddleware``), tokens taken from the rate limits. The other
layers leave a ``GET`` of this path alone (``LangfuseErrors``: ``/api/public/`` only;
``BodyLimit``: bodies of writes; ``Idempotency``: writes). ``tests/api/test_runtime_fast.py``
pins that list of layers, so a new middleware fails a test until this path is reviewed for it.

Anything else (a missing or bad key, a refused role, an unknown prompt, a state to re-check,
``render``, a rate limit refusal) goes to the stack unchanged, so errors, 401 counting and
every other behaviour are the stack's own. A refused request takes no token, so the stack's
rate limit gives the same 429. An exception inside it reaches the server, which logs it and
answers 500, as Starlette's error layer does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl

from fastapi import FastAPI

from promptstage.api.auth import PRINCIPAL_SCOPE_KEY, bearer_token
from promptstage.api.client_ip import TrustedProxies, client_address
from promptstage.api.headers import API_HEADERS
from promptstage.api.inputs import problem_in
from promptstage.api.metrics import ASGIApp, Metrics, Receive, Scope, Send
from promptstage.api.paths import PromptNameConvertor, routed_path
from promptstage.api.ratelimit import RateLimits
from promptstage.domain.models import Role
from promptstage.errors import PromptstageError
from promptstage.service.access import check
from promptstage.service.keys import Authenticator, Principal
from promptstage.service.snapshot import StateCache, resolve_answer
from promptstage.service.startup import StartupGate

__all__ = ["FastPathApp", "FastResolver", "RuntimeFastPath"]

PREFIX: Final = "/api/v1/projects/"
SUFFIX: Final = "/resolve"
MAX_LABEL: Final = 63
MAX_UNIT: Final = 256
MAX_ATTRS: Final = 64
_JSON_HEADERS: Final = (b"content-type", b"application/json")
_NAME: Final = PromptNameConvertor()  # the route's ``{name:prompt}``: ``%2F`` is a folder's /


@dataclass(frozen=True, slots=True)
class _Route:
    path: str


class FastResolver:
    """Answers a resolve from memory (:meth:`answered`), or leaves the request untouched."""

    def __init__(
        self,
        *,
        cache: StateCache,
        authenticator: Authenticator,
        route_path: str,
        trusted: TrustedProxies,
        limits: RateLimits,
        metrics: Metrics,
        startup_gate: StartupGate,
    ) -> None:
        self.cache = cache
        self.authenticator = authenticator
        self.route = _Route(route_path)  # what an OpenTelemetry request span reads
        self.trusted = trusted
        self.limits = limits
        self.metrics = metrics
        self.startup_gate = startup_gate

    async def answered(self, scope: Scope, send: Send) -> bool:
        """Answer the request through ``send`` and say so, or say no having sent nothing."""
        start = time.perf_counter()
        body = (
            self._answer(scope)
            if scope["type"] == "http" and self.startup_gate.reason is None
            else None
        )
        if body is None:
            return False
        ip = client_address(scope, self.trusted) or "unknown"
        limits = self.limits
        if await limits.refusal(scope, ip, limits.now()) is not None:
            return False  # the stack's rate limit answers the same 429
        scope["route"] = self.route
        headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS, *API_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe("GET", self.route.path, 200, time.perf_counter() - start)
        return True

    def _answer(self, scope: Scope) -> bytes | None:
        """The response body, or ``None`` when the route must handle the request."""
        if scope["method"] != "GET" or scope.get("root_path"):
            return None
        # A name holding what no store can (``inputs.problem_in``) is no stored project or
        # prompt: the lookups below refuse it without a check here.
        path = routed_path(scope)
        if path is None or not path.startswith(PREFIX) or not path.endswith(SUFFIX):
            return None
        parts = path[len(PREFIX) : -len(SUFFIX)].split("/")
        if len(parts) != 3 or parts[1] != "prompts" or not parts[0] or not parts[2]:
            return None
        project, name = parts[0], _NAME.convert(parts[2])
        label, unit = "prod", None
        seen_label = seen_unit = False
        context: dict[str, str] = {}
        attrs = 0
        pairs = _query_pairs(scope["query_string"].decode("latin-1"))
        if pairs is None:
            return None
        for key, value in pairs:
            if key == "label":
                if seen_label or len(value) > MAX_LABEL:
                    return None
                label, seen_label = value, True
            elif key == "unit":
                if seen_unit or len(value) > MAX_UNIT:
                    return None
                unit, seen_unit = value, True
            elif key == "render":
                return None
            else:
                attrs += 1
                if not key.startswith("var."):
                    context[key] = value
        if attrs > MAX_ATTRS:
            return None
        who = self._principal(scope)
        state = self.cache.peek(project) if who is not None else None
        if who is None or state is None:
            return None
        try:
            check(who, project, Role.runtime)
            return resolve_answer(state, name, label, unit, context)
        except PromptstageError:
            return None

    def _principal(self, scope: Scope) -> Principal | None:
        found = scope.get(PRINCIPAL_SCOPE_KEY)
        if isinstance(found, Principal):
            return found
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                token = bearer_token(value.decode("latin-1"))
                return self.authenticator.authenticate_cached(token) if token else None
        return None


def _query_pairs(query: str) -> list[tuple[str, str]] | None:
    """``parse_qsl(query, keep_blank_values=True)``, as Starlette reads the query, or ``None``
    when a key or value holds what no store can (``inputs.problem_in``).

    Without ``%`` or ``+`` nothing is decoded, so the fields are split by hand and checked in
    one pass: text decoded from latin-1 holds no surrogate, so only a NUL can be wrong.
    """
    if "%" in query or "+" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(problem_in(key) or problem_in(value) for key, value in pairs):
            return None
        return pairs
    if "\x00" in query:
        return None
    return [(key, value) for key, _, value in (f.partition("=") for f in query.split("&") if f)]


class RuntimeFastPath:
    """ASGI middleware: the resolver where a layer must wrap it (the OpenTelemetry request
    span); without one it stands in front of the whole app (:class:`FastPathApp`)."""

    def __init__(self, app: ASGIApp, *, resolver: FastResolver) -> None:
        self.app = app
        self.resolver = resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self.resolver.answered(scope, send):
            await self.app(scope, receive, send)


class FastPathApp(FastAPI):
    """FastAPI offering each request to ``resolver`` first, before any layer of its own
    (Starlette's error and exception layers included): a resolve it answers costs none of them.
    ``None`` (the default) leaves every request to FastAPI."""

    resolver: FastResolver | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolver = self.resolver
        if resolver is None or self.root_path or not await resolver.answered(scope, send):
            await super().__call__(scope, receive, send)
