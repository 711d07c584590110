"""Rate limits: a token bucket per (rule, client), kept in memory or shared through Redis.

The bucket is GCRA (the generic cell rate algorithm): one number per bucket, the "theoretical
arrival time" ``tat``. A bucket of ``limit`` tokens refills over ``period`` seconds, so a client
may burst ``limit`` requests and then one every ``period / limit`` seconds; a refused request
costs nothing and ``Retry-After`` is exact. The same arithmetic runs in Python (memory) and in
one Lua script (Redis), so several replicas share a limit atomically.

Redis down means the limits fail *open* (allowed, with a logged warning, re-tried after a few
seconds): limits are defence in depth, a Redis outage must not become a write outage, and keys
are 256-bit random secrets, so the auth-failure limit is not what keeps them unguessable.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi.responses import JSONResponse

from promptstage.api.auth import PRINCIPAL_SCOPE_KEY, key_holder
from promptstage.api.errors import error_response
from promptstage.api.metrics import ASGIApp, Receive, Scope, Send
from promptstage.service.context import utc_now
from promptstage.service.keys import Authenticator
from promptstage.settings import Settings

log = logging.getLogger("promptstage.ratelimit")

REDIS_PREFIX = "promptstage:rl:"
REDIS_TIMEOUT = 0.25  # seconds; a slow Redis must not stall the request path
REDIS_RETRY = 5.0  # seconds without trying Redis after it failed
MAX_MEMORY_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request: allowed or not, and how long until the next one would be.

    Attributes:
        allowed: The request may proceed (and took a token).
        retry_after: Seconds until a (next) request would be allowed; 0 when one would be now.
    """

    allowed: bool
    retry_after: float


ALLOW = Decision(True, 0.0)


def gcra(tat: float | None, now: float, limit: int, period: float) -> tuple[Decision, float | None]:
    """One GCRA step: the decision and the bucket's new ``tat`` (``None``: leave it unchanged).

    Args:
        tat: The stored theoretical arrival time, ``None`` for an unknown (full) bucket.
        now: The current time in seconds.
        limit: Tokens in a full bucket (requests allowed in a burst).
        period: Seconds in which an empty bucket refills completely.
    """
    interval = period / limit
    start = now if tat is None or tat < now else tat
    new_tat = start + interval
    allow_at = new_tat - period
    if now < allow_at:
        return Decision(False, allow_at - now), None
    return Decision(True, max(0.0, new_tat + interval - period - now)), new_tat


class Limiter(Protocol):
    """Where the buckets live."""

    async def hit(self, bucket: str, limit: int, period: float, now: float) -> Decision:
        """Take a token from ``bucket`` if one is left."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryLimiter:
    """Buckets in this process's memory (one replica, or limits per replica)."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    async def hit(self, bucket: str, limit: int, period: float, now: float) -> Decision:
        """Take a token from ``bucket`` if one is left."""
        with self._lock:
            decision, new_tat = gcra(self._tats.get(bucket), now, limit, period)
            if new_tat is not None:
                if len(self._tats) >= MAX_MEMORY_BUCKETS:
                    self._prune(now)
                self._tats[bucket] = new_tat
        return decision

    def _prune(self, now: float) -> None:
        """Drop full buckets (``tat`` in the past: they hold no state worth keeping)."""
        self._tats = {k: v for k, v in self._tats.items() if v > now}
        if len(self._tats) >= MAX_MEMORY_BUCKETS:  # all busy: forget the lot rather than grow
            self._tats.clear()

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS[1] bucket; ARGV now, limit, period. Returns {allowed (0/1), seconds (string)}.
GCRA_LUA = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if now < allow_at then
  return {0, tostring(allow_at - now)}
end
local ttl = math.ceil((new_tat - now) * 1000)
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl)
local wait = new_tat + interval - period - now
if wait < 0 then wait = 0 end
return {1, tostring(wait)}
"""


class RedisLimiter:
    """Buckets in Redis, shared by every replica pointing at the same server.

    Each decision is one ``EVALSHA`` of :data:`GCRA_LUA`, atomic on the server.
    """

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        self._script: Any = self._client.register_script(GCRA_LUA)
        self._down_until = 0.0

    async def hit(self, bucket: str, limit: int, period: float, now: float) -> Decision:
        """Take a token from ``bucket`` if one is left; allow everything while Redis is down."""
        from redis.exceptions import RedisError

        if time.monotonic() < self._down_until:
            return ALLOW
        try:
            allowed, wait = await self._script(
                keys=[REDIS_PREFIX + bucket], args=[repr(now), limit, repr(period)]
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + REDIS_RETRY
            log.warning(
                "rate limits are not enforced: Redis is unreachable (%s: %s); retrying in %.0f s",
                type(exc).__name__,
                exc,
                REDIS_RETRY,
            )
            return ALLOW
        return Decision(bool(int(allowed)), float(wait))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def make_limiter(redis_url: str | None) -> Limiter:
    """Redis-backed when ``redis_url`` is set, else in memory.

    Raises:
        ConfigurationError: ``redis_url`` is set but the ``redis`` package is missing.
    """
    if not redis_url:
        return MemoryLimiter()
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        from promptstage.errors import ConfigurationError

        raise ConfigurationError(
            "PROMPTSTAGE_REDIS_URL is set but the redis package is missing: "
            "pip install 'promptstage[server,redis]'",
            field="PROMPTSTAGE_REDIS_URL",
        ) from None
    return RedisLimiter(redis_url)


WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READS = frozenset({"GET", "HEAD"})
# Call and score ingest is runtime telemetry, sent in batches on the agents' behalf: it is
# counted with the runtime reads (off by default), never against the write budget.
INGEST_SUFFIXES = ("/calls", "/scores", "/otel/v1/traces")


def kind_of(method: str, path: str) -> str | None:
    """``writes``, ``reads`` (runtime traffic, including ingest) or ``None`` (not limited)."""
    if method == "POST" and path.endswith(INGEST_SUFFIXES):
        return "reads"
    if method in WRITES:
        return "writes"
    return "reads" if method in READS else None


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force (each per ``period`` seconds; 0 switches a rule off).

    Attributes:
        period: Seconds in which an empty bucket refills.
        auth_failures: 401 answers one client IP may receive before it is refused outright.
        writes_per_key: Writes one API key (by prefix) may make.
        writes_per_ip: Writes one client IP may make.
        reads_per_key: Runtime requests one API key may make: reads and call/score ingest
            (off by default: the runtime hot path).
    """

    period: float = 60.0
    auth_failures: int = 20
    writes_per_key: int = 600
    writes_per_ip: int = 1200
    reads_per_key: int = 0


class AuthFailures:
    """Failed authentications per client IP: API keys answered 401 and refused UI sign-ins
    count against one budget (``auth:<ip>``), so neither door is a way around the other.

    Once an IP's bucket is empty it is blocked locally until the bucket refills; the bucket
    itself lives in the shared limiter (memory, or Redis across replicas).
    """

    def __init__(self, limiter: Limiter, limits: Limits) -> None:
        self.limiter = limiter
        self.limits = limits
        self._blocked: dict[str, float] = {}  # ip -> time its block ends

    def blocked_for(self, ip: str, now: float) -> float:
        """Seconds ``ip`` stays blocked (0 when it is not)."""
        until = self._blocked.get(ip)
        if until is None:
            return 0.0
        if until > now:
            return until - now
        del self._blocked[ip]
        return 0.0

    async def failed(self, ip: str, now: float) -> float:
        """Count a failed authentication of ``ip``; the seconds it is now blocked (0: not)."""
        limits = self.limits
        if not limits.auth_failures:
            return 0.0
        decision = await self.limiter.hit(f"auth:{ip}", limits.auth_failures, limits.period, now)
        if decision.retry_after > 0:
            if len(self._blocked) >= MAX_MEMORY_BUCKETS:
                self._blocked = {k: v for k, v in self._blocked.items() if v > now}
            if ip not in self._blocked:
                log.warning(
                    "blocking %s for %.0f s after too many failed authentications",
                    ip,
                    decision.retry_after,
                )
            self._blocked[ip] = now + decision.retry_after
        return decision.retry_after


class RateLimits:
    """The rate limit rules as a decision per request (what :class:`RateLimit` enforces, and
    what the resolve fast path asks before it answers).

    An IP that used up its auth failures is refused before its key is even looked at. Per-key
    rules count only keys that authenticate, so knowing a key's (public) prefix does not let
    anyone spend its budget.
    """

    def __init__(
        self,
        *,
        limits: Limits,
        limiter: Limiter,
        authenticator: Authenticator,
        clock: Callable[[], datetime],
        failures: AuthFailures | None = None,
    ) -> None:
        self.limits = limits
        self.limiter = limiter
        self.authenticator = authenticator
        self.clock = clock
        self.failures = failures or AuthFailures(limiter, limits)
        # The current time in seconds, by the clock the buckets are kept in: the system clock
        # read directly when it is the clock (a datetime per request costs more than the
        # decision), else the injected clock (tests).
        self.now: Callable[[], float] = (
            time.time if clock is utc_now else lambda: clock().timestamp()
        )

    async def refusal(self, scope: Scope, ip: str, now: float) -> JSONResponse | None:
        """The 429 to answer instead of handling the request, or ``None`` to let it through
        (having taken its tokens). A refused request takes no token, so asking again for the
        same request gives the same answer until a bucket refills."""
        limits, method = self.limits, scope["method"]
        blocked = self.failures.blocked_for(ip, now)
        if blocked:
            return _too_many(blocked, f"too many failed authentications from {ip}")
        kind = kind_of(method, scope["path"])
        per_key = limits.writes_per_key if kind == "writes" else limits.reads_per_key if kind else 0
        if kind == "writes" and limits.writes_per_ip:
            decision = await self.limiter.hit(f"wip:{ip}", limits.writes_per_ip, limits.period, now)
            if not decision.allowed:
                return _too_many(decision.retry_after, f"too many writes from {ip}")
        if per_key:
            prefix = await self._key_prefix(scope)
            if prefix is not None:
                decision = await self.limiter.hit(f"{kind}:{prefix}", per_key, limits.period, now)
                if not decision.allowed:
                    return _too_many(decision.retry_after, f"too many {kind} with API key {prefix}")
        return None

    async def _key_prefix(self, scope: Scope) -> str | None:
        """The prefix of the request's key if it authenticates (the app answers 401 otherwise)."""
        who = await key_holder(self.authenticator, scope.get("headers", ()))
        if who is None:
            return None
        scope[PRINCIPAL_SCOPE_KEY] = who
        return who.key_prefix


class RateLimit:
    """ASGI middleware enforcing :class:`RateLimits` on ``/api/`` paths with ``429`` +
    ``Retry-After``, and counting the ``401`` answers of each client IP. Health, metrics and
    docs paths are never limited."""

    def __init__(self, app: ASGIApp, *, policy: RateLimits) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._closing(receive), send)
            return
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        policy = self.policy
        now = policy.now()
        client = scope.get("client")
        ip = str(client[0]) if client else "unknown"
        refusal = await policy.refusal(scope, ip, now)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if not policy.limits.auth_failures:
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watch)
        if status == 401:
            await policy.failures.failed(ip, now)

    def _closing(self, receive: Receive) -> Receive:
        """Wrap the lifespan ``receive`` to close the limiter's connections at shutdown."""
        limiter = self.policy.limiter

        async def wrapped() -> MutableMapping[str, Any]:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await limiter.aclose()
            return message

        return wrapped


def _too_many(retry_after: float, what: str) -> JSONResponse:
    seconds = max(1, math.ceil(retry_after))
    response = error_response(429, "rate_limited", f"{what}; retry after {seconds} s (Retry-After)")
    response.headers["Retry-After"] = str(seconds)
    return response


def limits_from(settings: Settings) -> Limits:
    """The :class:`Limits` the ``rate_limit_*`` settings name."""
    return Limits(
        period=settings.rate_limit_window_seconds,
        auth_failures=settings.rate_limit_auth_failures,
        writes_per_key=settings.rate_limit_writes_per_key,
        writes_per_ip=settings.rate_limit_writes_per_ip,
        reads_per_key=settings.rate_limit_reads_per_key,
    )
