"""Client settings, validated once, shared by the sync and async clients."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from promptstage.domain.names import project_name
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES
from promptstage.errors import ConfigurationError, InvalidInputError

from .cache_dir import DEFAULT_CACHE, DefaultCache, default_cache_path
from .pins import PIN_ENV, parse_pins

__all__ = [
    "DEFAULT_TIMEOUT",
    "OTEL_COMPAT",
    "OTEL_ENV",
    "OTEL_MODES",
    "USER_AGENT",
    "Options",
    "Redactor",
]

Redactor = Callable[[str, Any], Any]
"""``redact(field, value) -> value`` for ``field`` in ``variables``, ``output``, ``context``."""

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "promptstage-python/0.1"
OTEL_ENV = "PROMPTSTAGE_OTEL"
OTEL_MODES = ("auto", "span", "current", "off")
OTEL_COMPAT = ("langfuse", "openinference")


@dataclass(frozen=True, slots=True)
class Options:
    """Every client setting (see the settings table in ``docs/sdk.md``)."""

    base_url: str
    project: str
    api_key: str | None
    init_timeout: float = 2.0
    stream: bool = True
    poll_interval: float = 15.0
    # DEFAULT_CACHE: a per-project file under the user's cache directory (resolved below).
    cache_path: str | os.PathLike[str] | DefaultCache | None = DEFAULT_CACHE
    bootstrap: str | os.PathLike[str] | Mapping[str, Any] | None = None
    redact: Redactor | None = None
    queue_size: int = 10_000
    batch_size: int = 500
    flush_interval: float = 1.0
    timeout: httpx.Timeout | float = field(default_factory=lambda: DEFAULT_TIMEOUT)
    stream_read_timeout: float = 45.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    backoff_reset_after: float = 60.0
    auth_retry_interval: float = 300.0
    close_timeout: float = 5.0
    lkg_write_interval: float = 1.0
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES
    # Operator pins (break-glass): "prompt:label" -> version; None reads $PROMPTSTAGE_PIN.
    pins: Mapping[str, int] | str | None = None
    # OpenTelemetry: None reads $PROMPTSTAGE_OTEL, else "auto" (see docs/otel.md).
    otel: str | None = None
    otel_compat: Iterable[str] = ()
    otel_tracer_provider: Any = None
    cache_problem: str | None = None  # why the default cache file is off (set, not given)

    @property
    def cache_file(self) -> str | os.PathLike[str] | None:
        """The last-known-good file (the default one resolved), or ``None`` when it is off."""
        path = self.cache_path
        return None if isinstance(path, DefaultCache) else path

    def __post_init__(self) -> None:
        if self.pins is None:
            object.__setattr__(self, "pins", parse_pins(os.environ.get(PIN_ENV), PIN_ENV))
        else:
            object.__setattr__(self, "pins", parse_pins(self.pins))
        if not isinstance(self.base_url, str) or not self.base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigurationError(
                f"base_url {self.base_url!r} must be an http:// or https:// URL, "
                "e.g. 'http://127.0.0.1:8700'",
                field="base_url",
            )
        try:
            project_name(self.project)
        except InvalidInputError as exc:
            raise ConfigurationError(exc.message, field="project") from None
        object.__setattr__(self, "otel", _otel_mode(self.otel))
        object.__setattr__(self, "otel_compat", _otel_compat(self.otel_compat))
        if isinstance(self.cache_path, DefaultCache):
            path, problem = default_cache_path(self.base_url, self.project)
            object.__setattr__(self, "cache_path", path)
            object.__setattr__(self, "cache_problem", problem)
        for name in _SECONDS:
            value = getattr(self, name)
            positive = name in _POSITIVE
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
                or (positive and value == 0)
            ):
                rule = "> 0" if positive else ">= 0"
                raise ConfigurationError(f"{name} must be a number of seconds {rule}", field=name)
        for name in ("queue_size", "batch_size", "max_rendered_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1", field=name)
        if isinstance(self.timeout, int | float) and not isinstance(self.timeout, bool):
            object.__setattr__(self, "timeout", httpx.Timeout(float(self.timeout)))
        if not isinstance(self.timeout, httpx.Timeout):
            raise ConfigurationError(
                "timeout must be an httpx.Timeout or a number of seconds", field="timeout"
            )

    def sync_key(self, transport: httpx.BaseTransport | None) -> tuple[Any, ...]:
        """What makes two clients' sync loops the same: the clients of a process with equal
        keys read one feed (``sdk/feed.py``). Per-client settings (pins, redaction, the call
        queue, timeouts of the constructor and of ``close``, OpenTelemetry) are not in it."""
        t = self.timeouts
        cache = self.cache_file
        return (
            self.base_url.rstrip("/"),
            self.project,
            self.api_key,
            self.stream,
            self.poll_interval,
            None if cache is None else os.path.abspath(os.fspath(cache)),
            (t.connect, t.read, t.write, t.pool),
            self.stream_read_timeout,
            self.backoff_initial,
            self.backoff_max,
            self.backoff_reset_after,
            self.auth_retry_interval,
            self.lkg_write_interval,
            self.max_rendered_bytes,
            # A transport is the caller's object (tests, proxies): shared only when the same.
            None if transport is None else id(transport),
        )

    @property
    def pinned(self) -> Mapping[str, int]:
        """``pins`` as parsed at construction: ``"prompt:label"`` -> version."""
        assert isinstance(self.pins, dict)
        return self.pins

    @property
    def timeouts(self) -> httpx.Timeout:
        """``timeout`` as an ``httpx.Timeout`` (a number was converted at construction)."""
        assert isinstance(self.timeout, httpx.Timeout)
        return self.timeout

    @property
    def root(self) -> str:
        """``{base_url}/api/v1/projects/{project}``."""
        return f"{self.base_url.rstrip('/')}/api/v1/projects/{quote(self.project, safe='')}"

    def headers(self) -> dict[str, str]:
        """Headers sent with every request."""
        out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            out["Authorization"] = f"Bearer {self.api_key}"
        return out

    def bounded_timeout(self, budget: float) -> httpx.Timeout:
        """``timeout`` with every phase capped at ``budget`` seconds (for the first fetch)."""
        budget = max(budget, 0.001)
        t = self.timeouts
        return httpx.Timeout(
            connect=_cap(t.connect, budget),
            read=_cap(t.read, budget),
            write=_cap(t.write, budget),
            pool=_cap(t.pool, budget),
        )

    def stream_timeout(self) -> httpx.Timeout:
        """``timeout`` with the read timeout that detects a silent (blackholed) stream."""
        t = self.timeouts
        return httpx.Timeout(
            connect=t.connect, read=self.stream_read_timeout, write=t.write, pool=t.pool
        )


_SECONDS = (
    "init_timeout",
    "poll_interval",
    "flush_interval",
    "stream_read_timeout",
    "backoff_initial",
    "backoff_max",
    "backoff_reset_after",
    "auth_retry_interval",
    "close_timeout",
    "lkg_write_interval",
)
_POSITIVE = frozenset(
    {
        "poll_interval",
        "flush_interval",
        "stream_read_timeout",
        "backoff_initial",
        "backoff_max",
        "auth_retry_interval",
    }
)


def _otel_mode(value: str | None) -> str:
    """``otel=`` checked; ``None`` reads ``$PROMPTSTAGE_OTEL`` (``auto`` when unset)."""
    field_name = "otel"
    if value is None:
        value = os.environ.get(OTEL_ENV, "").strip().lower() or "auto"
        field_name = OTEL_ENV
    if value not in OTEL_MODES:
        raise ConfigurationError(
            f"{field_name} {value!r} must be one of {list(OTEL_MODES)}: 'span' records each "
            "call() as a span, 'current' adds attributes to the caller's current span",
            field=field_name,
        )
    return value


def _otel_compat(value: Iterable[str]) -> frozenset[str]:
    """``otel_compat=`` checked: a collection of names from :data:`OTEL_COMPAT`."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"otel_compat must be a list of names from {list(OTEL_COMPAT)}, "
            f"e.g. otel_compat=['langfuse'], not {value!r}",
            field="otel_compat",
        )
    names = frozenset(value)
    unknown = sorted(str(n) for n in names if n not in OTEL_COMPAT)
    if unknown:
        raise ConfigurationError(
            f"otel_compat names {unknown} are unknown; use any of {list(OTEL_COMPAT)}",
            field="otel_compat",
        )
    return names


def _cap(value: float | None, budget: float) -> float:
    return budget if value is None else min(value, budget)
