"""One typed ``Settings`` object for the server, read from the environment at the edge.

Every field has a documented default and an environment variable ``PROMPTSTAGE_<NAME>``;
``docs/settings.md`` lists them all and a test fails when one is missing there. Flags of the
CLI override the environment, which overrides the defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from promptstage.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///./.promptstage/promptstage.db"


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# Characters of PROMPTSTAGE_METRICS_TOKEN: long enough that no brute force pays (/metrics has
# no rate limit of its own).
MIN_METRICS_TOKEN = 32


@dataclass(frozen=True, slots=True)
class Settings:
    """Server settings. ``metadata["doc"]`` is the one-line description docs/settings.md shows."""

    database_url: str = field(
        default=DEFAULT_DATABASE_URL,
        metadata={
            "doc": "SQLAlchemy URL of the store: sqlite:///FILE (embedded, WAL) or postgresql+psycopg://..."
        },
    )
    host: str = field(
        default="127.0.0.1", metadata={"doc": "Interface `promptstage serve` binds to."}
    )
    port: int = field(default=8700, metadata={"doc": "Port `promptstage serve` listens on."})
    admin_key: str | None = field(
        default=None,
        metadata={
            "doc": "Instance admin API key (`ps_<prefix>_<secret>`); the start banner shows its "
            "prefix only. Unset: the first start of an empty database creates one and prints it "
            "once."
        },
    )
    audit_signing_key: str | None = field(
        default=None,
        repr=False,  # a secret: never in logs or tracebacks
        metadata={
            "doc": "Base64 of the 32-byte raw Ed25519 private key that signs audit checkpoints "
            "(`promptstage audit keygen` prints one). Unset: POST /audit/checkpoint answers 503."
        },
    )
    max_body_bytes: int = field(
        default=1024 * 1024, metadata={"doc": "Largest accepted request body in bytes (413 above)."}
    )
    auth_cache_seconds: float = field(
        default=5.0,
        metadata={
            "doc": "How long a verified API key is cached in memory; a key revoked on another "
            "replica is refused within this bound (immediately on the replica that revoked it)."
        },
    )
    auth_outage_grace_seconds: float = field(
        default=3600.0,
        metadata={
            "doc": "While the database cannot be reached, a key verified at most this long ago "
            "keeps authenticating from memory (runtime reads go on; no key can be revoked "
            "during the outage, since writes fail). 0: every key needs the database."
        },
    )
    statement_timeout_ms: int = field(
        default=5000,
        metadata={
            "doc": "Postgres `statement_timeout` of every statement, in milliseconds: a write "
            "stuck on a slow or locked database is cancelled and rolled back whole (503). "
            "0: no timeout. SQLite: unused (its busy timeout is 10 s)."
        },
    )
    state_check_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "Longest time the resolve/snapshot cache trusts itself before re-reading the "
            "project's event sequence (covers replicas without LISTEN/NOTIFY); the re-read runs "
            "in the background, so reads never wait on it. 0: every read confirms first."
        },
    )
    sse_heartbeat_seconds: float = field(
        default=15.0,
        metadata={"doc": "Interval of `: heartbeat` comments on idle /events streams."},
    )
    max_rendered_bytes: int = field(
        default=1024 * 1024,
        metadata={
            "doc": "Largest rendered prompt in UTF-8 bytes (default 1 MiB). A version whose "
            "expansion (includes expanded, each placeholder as `{{name}}`) is larger is refused "
            "when written (422 naming the include); `/resolve?render=1` refuses a render over "
            "it (422 naming the include or the variable) without building it."
        },
    )
    call_retention_days: float = field(
        default=30.0,
        metadata={"doc": "Calls (and their scores) older than this many days are deleted hourly."},
    )
    controller_interval: float = field(
        default=60.0,
        metadata={
            "doc": "Seconds between two looks of the release controller at every running release "
            "(only the replica holding the leadership lock runs it). `serve --demo` uses 2 unless "
            "this is set."
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "doc": "Worker processes `promptstage serve` starts (`--workers`). The release "
            "controller and the webhook sender run in one of them at a time, on SQLite (a lock "
            "file beside the database) as on Postgres (an advisory lock)."
        },
    )
    webhook_poll_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "Seconds between two passes of the webhook sender (queue new events, send due deliveries)."
        },
    )
    webhook_allowed_hosts: str = field(
        default="",
        metadata={
            "doc": "Comma-separated hosts webhooks may target (names, IPs, or *.example.com). "
            "Empty: any host whose addresses are all public; private, loopback and link-local "
            "targets are refused (SSRF guard) unless listed. Set: only listed hosts."
        },
    )
    webhook_max_attempts: int = field(
        default=5, metadata={"doc": "Attempts per webhook delivery before it is marked failed."}
    )
    webhook_backoff_seconds: float = field(
        default=10.0,
        metadata={
            "doc": "Wait before the second attempt of a failed webhook delivery; doubled after each further failure."
        },
    )
    webhook_timeout_seconds: float = field(
        default=10.0, metadata={"doc": "Timeout of one webhook HTTP request, in seconds."}
    )
    langfuse_production_label: str = field(
        default="prod",
        metadata={
            "doc": "The label the Langfuse-compatible API (`/api/public/`) presents as "
            "Langfuse's `production` (both ways: a `production` label written through it "
            "moves this one)."
        },
    )
    change_request_ttl_hours: float = field(
        default=24.0,
        metadata={
            "doc": "Hours a four-eyes change request stays open; after that it reads as expired "
            "and cannot be approved (open a new one)."
        },
    )
    ui_session_idle_minutes: float = field(
        default=30.0,
        metadata={
            "doc": "Minutes an admin UI session survives without a request; then it must sign "
            "in again."
        },
    )
    ui_session_absolute_hours: float = field(
        default=12.0,
        metadata={
            "doc": "Hours an admin UI session lasts at most from its sign-in, however active."
        },
    )
    demo: bool = field(
        default=False, metadata={"doc": "Seed the demo project `clinic` at start (idempotent)."}
    )
    demo_password: str | None = field(
        default=None,
        repr=False,  # a secret: never in logs or tracebacks
        metadata={
            "doc": "Password of the demo UI users (`erin`, `alice`, `bob`) set when the demo is "
            "first seeded. Unset: the first seeding generates one and the start banner prints it "
            "once (`promptstage user passwd` resets it). Set: never printed."
        },
    )
    log_level: str = field(
        default="info",
        metadata={"doc": "Log level: debug, info, warning, error or critical (any case)."},
    )
    redis_url: str | None = field(
        default=None,
        metadata={
            "doc": "Redis URL (`redis://host:6379/0`) shared by the replicas for rate limits. "
            "Unset: limits are kept in memory, per process. Redis down: limits fail open (logged)."
        },
    )
    rate_limit_window_seconds: float = field(
        default=60.0,
        metadata={
            "doc": "The window every rate limit below counts in (a token bucket refilled over it)."
        },
    )
    rate_limit_auth_failures: int = field(
        default=20,
        metadata={
            "doc": "Failed authentications (401) one client IP may make per window; then every "
            "request from it gets 429 with Retry-After, before its key is checked. 0: off."
        },
    )
    rate_limit_writes_per_key: int = field(
        default=600,
        metadata={
            "doc": "Writes (POST, PUT, PATCH, DELETE) one API key may make per window. 0: off."
        },
    )
    rate_limit_writes_per_ip: int = field(
        default=1200,
        metadata={"doc": "Writes one client IP may make per window, whatever the key. 0: off."},
    )
    rate_limit_reads_per_key: int = field(
        default=0,
        metadata={
            "doc": "Runtime requests (reads, including resolve/snapshot/events, and call/score "
            "ingest) one API key may make per window. 0 (default): off, the runtime hot path "
            "is not limited."
        },
    )
    metrics_token: str | None = field(
        default=None,
        repr=False,  # a secret: never in logs or tracebacks
        metadata={
            "doc": "A bearer token (32 characters or more) that may read `GET /metrics` and "
            "nothing else, for a Prometheus scraper. Without it `/metrics` needs the instance "
            "admin key (its labels name every project, prompt, label and model)."
        },
    )
    metrics_public: bool = field(
        default=False,
        metadata={
            "doc": "Serve `GET /metrics` to anyone, without a key (a single-tenant server on a "
            "private network)."
        },
    )
    trusted_proxies: str = field(
        default="127.0.0.1",
        metadata={
            "doc": "Proxies whose `X-Forwarded-For` is believed: comma-separated addresses and "
            "networks (`10.0.0.0/8`). The client IP (rate limits, metrics) is the right-most "
            "hop that is not one of them. `*`: any peer is a proxy and only the entry it "
            "appended counts. Replaces uvicorn's `FORWARDED_ALLOW_IPS`, which is not read."
        },
    )

    eval_gate: bool = field(
        default=True,
        metadata={
            "doc": "The evaluation gate: a version reaches a gated label (default `prod`) only "
            "after passing the project's required eval suites (docs/evals.md). Off (`0`): "
            "every promotion passes, and the server says so loudly at start. For development "
            "and tests of other features only."
        },
    )
    eval_openai_base_url: str = field(
        default="https://api.openai.com/v1",
        metadata={
            "doc": "Base URL of the OpenAI-compatible chat-completions endpoint eval runs call "
            "for the providers openai, azure, vllm, ollama and litellm (Azure: "
            "`https://RESOURCE.openai.azure.com/openai/v1/`; Ollama: `http://127.0.0.1:11434/v1`)."
        },
    )
    eval_openai_api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "doc": "Name of the environment variable that holds the OpenAI-compatible API key "
            "(the key itself is never a setting, stored or logged). `none`: send no key "
            "(a local vLLM or Ollama)."
        },
    )
    eval_anthropic_base_url: str = field(
        default="https://api.anthropic.com",
        metadata={"doc": "Base URL of the Anthropic Messages API eval runs call."},
    )
    eval_anthropic_api_key_env: str = field(
        default="ANTHROPIC_API_KEY",
        metadata={
            "doc": "Name of the environment variable that holds the Anthropic API key. "
            "`none`: send no key."
        },
    )
    eval_timeout_seconds: float = field(
        default=60.0,
        metadata={
            "doc": "Bound of one model call attempt; a call that times out is not retried "
            "and its case fails closed (`timeout`)."
        },
    )
    eval_max_attempts: int = field(
        default=4,
        metadata={"doc": "Attempts per model call on 429, 5xx and connection errors (1: none)."},
    )
    eval_backoff_seconds: float = field(
        default=1.0,
        metadata={
            "doc": "Wait before the second attempt when the provider sent no Retry-After; "
            "doubled after each failure, up to half of it taken off at random (jitter)."
        },
    )
    eval_max_wait_seconds: float = field(
        default=60.0,
        metadata={
            "doc": "Longest wait between two attempts; a Retry-After above it ends the call "
            "as `rate_limited` instead of holding the run."
        },
    )
    eval_concurrency: int = field(
        default=8, metadata={"doc": "Model calls one eval run keeps in flight at most."}
    )
    eval_prices: str = field(
        default="",
        metadata={
            "doc": "Token prices in USD per million, `model=input/output` separated by commas "
            "(`gpt-4o=2.50/10.00`); they add to and override the built-in list. A model in "
            "neither has no cost (unknown, not 0)."
        },
    )
    eval_run_stale_seconds: float = field(
        default=30.0,
        metadata={
            "doc": "A running eval run whose runner has not reported for this long belonged to "
            "a server that stopped: it is marked `interrupted` (never passed) and can be "
            "resumed. The runner reports every third of it."
        },
    )
    eval_poll_seconds: float = field(
        default=1.0, metadata={"doc": "Seconds between the eval runner's looks for queued runs."}
    )
    eval_allowed_hosts: str = field(
        default="",
        metadata={
            "doc": "Hosts (comma-separated) that links in a model's output may point to in "
            "every eval run, added to each `no-exfil-links` assertion's own list."
        },
    )
    otel_exporter_otlp_endpoint: str | None = field(
        default=None,
        metadata={
            "doc": "OTLP/HTTP base URL the server exports its traces to (request, database, "
            "label-move and controller spans; `/v1/traces` is appended), e.g. "
            "`http://127.0.0.1:4318`. Unset: the standard `OTEL_EXPORTER_OTLP_ENDPOINT` or "
            "`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` turn tracing on instead; neither: no tracing. "
            "Needs the `otel-server` extra (docs/otel.md)."
        },
    )
    otel_service_name: str = field(
        default="promptstage",
        metadata={
            "doc": "`service.name` of the server's spans (the standard `OTEL_SERVICE_NAME` "
            "wins when set)."
        },
    )

    def __post_init__(self) -> None:
        level = self.log_level.strip().lower() if isinstance(self.log_level, str) else None
        if level not in LOG_LEVELS:
            raise ConfigurationError(
                f"{env_name('log_level')}={self.log_level!r} is not a log level; use one of "
                f"{', '.join(LOG_LEVELS)}",
                field=env_name("log_level"),
            )
        object.__setattr__(self, "log_level", level)
        endpoint = self.otel_exporter_otlp_endpoint
        if endpoint is not None and (
            not isinstance(endpoint, str)
            or not endpoint.startswith(("http://", "https://"))
            or endpoint[-3:] == "://"
        ):
            raise ConfigurationError(
                f"{env_name('otel_exporter_otlp_endpoint')}={endpoint!r} must be the http:// or "
                "https:// base URL of an OTLP/HTTP receiver, e.g. http://127.0.0.1:4318",
                field=env_name("otel_exporter_otlp_endpoint"),
            )
        if not isinstance(self.otel_service_name, str) or not self.otel_service_name.strip():
            raise ConfigurationError(
                f"{env_name('otel_service_name')} must be a non-empty name, e.g. promptstage",
                field=env_name("otel_service_name"),
            )
        if self.metrics_token is not None and len(self.metrics_token) < MIN_METRICS_TOKEN:
            raise ConfigurationError(
                f"{env_name('metrics_token')} must be {MIN_METRICS_TOKEN} characters or more "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
                field=env_name("metrics_token"),
            )
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise ConfigurationError(
                f"{env_name('workers')}={self.workers!r} must be a whole number of processes >= 1",
                field=env_name("workers"),
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``PROMPTSTAGE_*`` variables, then apply non-``None`` ``overrides`` (CLI flags).

        Raises:
            ConfigurationError: a variable does not parse as its field's type.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, raw, f.type)
        settings = cls(**values)
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings


def env_name(field_name: str) -> str:
    """The environment variable that sets ``field_name``."""
    return "PROMPTSTAGE_" + field_name.upper()


def _parse(name: str, raw: str, type_: Any) -> Any:
    kind = str(type_)
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{env_name(name)}={raw!r} is not a valid {kind}", field=env_name(name)
        ) from None
    return raw
