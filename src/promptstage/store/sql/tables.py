"""The schema as SQLAlchemy Core tables: the model that the Alembic migrations must build.

A test runs the migrations on SQLite and Postgres and compares the result with this metadata,
so change both together (a new file in ``migrations/versions`` for every change here).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)

from .coltypes import ExactJson, Json, UtcDateTime

# Explicit constraint names, so migrations and metadata agree on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only autoincrements an INTEGER PRIMARY KEY; Postgres gets a 64-bit identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

NAME = 128  # prompt, label and project names are validated shorter than this upstream
HASH = 80  # "sha256:" + 64 hex digits, with room to spare

projects = Table(
    "projects",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("description", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("audit_seq", BigInteger, nullable=False),
    Column("audit_head", String(HASH), nullable=True),
    # Governance (0004): labels that need a releaser, and whether their changes need a second one.
    Column("protected_labels", Json, nullable=False, server_default=text("'[\"prod\"]'")),
    Column("four_eyes", Boolean, nullable=False, server_default=true()),
    # Keys (0005): the longest lifetime a person's key may have, in days (None: no limit).
    Column("max_key_lifetime_days", Integer, nullable=True),
    # Evals (0010): {"gate": gate policy, "static": static check policy}; null: the defaults.
    Column("eval_policy", Json, nullable=True),
)

prompts = Table(
    "prompts",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("name", String(NAME), primary_key=True),
    Column("type", String(16), nullable=False),
    Column("description", Text, nullable=False),
    Column("tags", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("latest_version", Integer, nullable=False),
    Column("archived_at", UtcDateTime, nullable=True),
    ForeignKeyConstraint(["project"], ["projects.name"]),
)

versions = Table(
    "versions",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("prompt", String(NAME), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("digest", String(HASH), nullable=False),
    Column("type", String(16), nullable=False),
    Column("template", ExactJson, nullable=False),
    Column("variables", ExactJson, nullable=False),
    Column("config", ExactJson, nullable=False),
    Column("includes", ExactJson, nullable=False),
    Column("author", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("parent", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["project", "prompt"], ["prompts.project", "prompts.name"]),
    Index(None, "project", "prompt", "digest"),
)

labels = Table(
    "labels",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("prompt", String(NAME), primary_key=True),
    Column("label", String(NAME), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # A label can only point at a version that exists.
    ForeignKeyConstraint(
        ["project", "prompt", "version"],
        ["versions.project", "versions.prompt", "versions.number"],
    ),
)

label_moves = Table(
    "label_moves",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("project", String(NAME), nullable=False),
    Column("prompt", String(NAME), nullable=False),
    Column("label", String(NAME), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous", Integer, nullable=True),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    ForeignKeyConstraint(["project", "prompt"], ["prompts.project", "prompts.name"]),
    Index(None, "project", "prompt", "label", "id"),
)

audit = Table(
    "audit",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("before", ExactJson, nullable=True),
    Column("after", ExactJson, nullable=True),
    Column("reason", Text, nullable=False),
    Column("prev_hash", String(HASH), nullable=False),
    Column("hash", String(HASH), nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
)

events = Table(
    "events",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(NAME), nullable=True),
    Column("prefix", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    # Principals (0005): whose key this is (a principal's name in the key's scope), and expiry.
    Column("principal", Text, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    UniqueConstraint("prefix"),
    Index(None, "project"),
)

# The people and service accounts keys are issued to; ``id`` is ``<project>/<name>`` (an empty
# project for an instance-level principal), so a name is unique in its scope on every backend.
principals = Table(
    "principals",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("project", String(NAME), nullable=True),
    Column("name", String(NAME), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project"),
)

# Calls and scores: the call log written by the runtime SDK, read by the release controller.
calls = Table(
    "calls",
    metadata,
    Column("id", String(64), nullable=False),
    Column("project", String(NAME), nullable=False),
    Column("prompt", String(NAME), nullable=False),
    Column("label", String(NAME), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(HASH), nullable=False),
    Column("release_id", String(64), nullable=True),
    Column("arm", String(32), nullable=False),
    Column("unit_hash", String(HASH), nullable=True),
    Column("context", Json, nullable=False),
    Column("variables", Json, nullable=True),
    Column("output", Json, nullable=True),
    Column("model", Text, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("tokens_in", Integer, nullable=True),
    Column("tokens_out", Integer, nullable=True),
    Column("cost", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    # Drift (0013): the retrieval index (NAME@VERSION) and tool names the call reports it used.
    Column("index_used", Text, nullable=True),
    Column("tools_used", Json, nullable=True),
    # A call id is unique within its project (migration 0017); Postgres adds ``at``, its
    # partition key, to the key (migration 0014).
    PrimaryKeyConstraint("project", "id"),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project", "prompt", "version", "at"),
    Index(None, "project", "release_id", "arm"),
    Index(None, "project", "at"),
)

scores = Table(
    "scores",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("project", String(NAME), nullable=False),
    # No foreign key to calls: a score may arrive before its call's batch is flushed.
    Column("call_id", String(64), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("value", Float, nullable=False),
    Column("source", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project", "call_id"),
)

# Per-minute rollups of the call log (migration 0014): per (release, arm, unit, minute) sums of
# the unit-keyed calls of releases, kept on ingest in the same transaction as the calls, so the
# controller reads a handful of rows per unit instead of every call (store/sql/rollups.py).
# Ingest adds to a row many times a minute: pages kept 30 % free let Postgres update it in
# place (HOT: no new index entries), which halves the rollup upsert (migration 0015).
ROLLUP_FILLFACTOR = 70
call_rollups = Table(
    "call_rollups",
    metadata,
    Column("project", String(NAME), nullable=False),
    Column("release_id", String(64), nullable=False),
    Column("arm", String(32), nullable=False),
    Column("unit_hash", String(HASH), nullable=False),
    Column("minute", UtcDateTime, nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("n_lat", BigInteger, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lat_sq", Float, nullable=False),
    Column("n_cost", BigInteger, nullable=False),
    Column("cost", Float, nullable=False),
    Column("cost_sq", Float, nullable=False),
    PrimaryKeyConstraint("project", "release_id", "arm", "unit_hash", "minute"),
    Index(None, "minute"),
    postgresql_with={"fillfactor": ROLLUP_FILLFACTOR},
)

# Releases (migration 0002): one row per release, its change history and the controller's looks.
releases = Table(
    "releases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(NAME), nullable=False),
    Column("prompt", String(NAME), nullable=False),
    Column("label", String(NAME), nullable=False),
    Column("baseline_version", Integer, nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("steps", Json, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("weight_bps", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("hash_version", Integer, nullable=False),
    Column("unit_attribute", String(NAME), nullable=False),
    Column("targeting", Json, nullable=True),
    Column("guardrails", Json, nullable=True),
    Column("auto_rollback", Boolean, nullable=False),
    Column("flags", Json, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("step_started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime, nullable=True),
    # "prompt/label" while running or paused, NULL once ended: at most one active release per
    # label, enforced by the database too (NULLs never collide in a unique constraint).
    Column("active_label", String(2 * NAME + 1), nullable=True),
    # Migration 0006: what a step without enough data does at its bake deadline.
    Column("on_insufficient_data", String(16), nullable=False, server_default="rollback"),
    # Drift (0013): hold, rollback or ignore while the canary runs on what it did not pin.
    Column("on_drift", String(16), nullable=False, server_default="hold"),
    # Migration 0011: the error budget (how alpha is split over the tests), fixed at the start.
    Column("error_budget", Json, nullable=True),
    # Migration 0018: when the units' pre-release history was taken into release_covariates
    # (NULL: not taken; a look then reads it from calls).
    Column("covariates_at", UtcDateTime, nullable=True),
    ForeignKeyConstraint(["project", "prompt"], ["prompts.project", "prompts.name"]),
    UniqueConstraint("project", "active_label"),
    Index(None, "project", "state"),
    Index(None, "project", "prompt", "label"),
)

# Each unit's mean of each metric over its calls in the 14 days before its release started
# (migration 0018): the covariate of the variance reduction, taken once by the controller so
# that a look does not scan the prompt's history again (store/sql/release_covariates.py).
release_covariates = Table(
    "release_covariates",
    metadata,
    Column("release_id", String(64), nullable=False),
    Column("metric", String(NAME), nullable=False),
    Column("unit_hash", String(HASH), nullable=False),
    Column("x", Float, nullable=False),
    PrimaryKeyConstraint("release_id", "metric", "unit_hash"),
    ForeignKeyConstraint(["release_id"], ["releases.id"]),
)

release_history = Table(
    "release_history",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("release_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("weight_bps", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    ForeignKeyConstraint(["release_id"], ["releases.id"]),
    Index(None, "release_id", "id"),
)

release_looks = Table(
    "release_looks",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("release_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("weight_bps", Integer, nullable=False),
    Column("decision", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", Json, nullable=False),
    ForeignKeyConstraint(["release_id"], ["releases.id"]),
    Index(None, "release_id", "id"),
)

# Webhooks: subscriptions, and the deliveries outbox a background worker sends from.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(NAME), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Json, nullable=False),
    Column("secret", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("cursor_seq", BigInteger, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("webhook_id", String(64), nullable=False),
    Column("project", String(NAME), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Json, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    ForeignKeyConstraint(["webhook_id"], ["webhooks.id"]),
    UniqueConstraint("webhook_id", "event_seq"),
    Index(None, "state", "next_attempt_at"),
)

change_requests = Table(
    "change_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project", String(NAME), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("prompt", String(NAME), nullable=False),
    Column("label", String(NAME), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(HASH), nullable=False),
    Column("expected_version", Integer, nullable=True),
    Column("params", Json, nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_by", Text, nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decision_reason", Text, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project", "state", "created_at"),
)

# Idempotency keys: one claim per (caller and operation, key), with the answer it replays.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(160), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(HASH), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("applied", Boolean, nullable=False),
    Column("status", Integer, nullable=True),
    Column("headers", Json, nullable=True),
    Column("body", LargeBinary, nullable=True),
    Index(None, "created_at"),
)

# Users of the admin UI: one password per principal name, a role per project, sessions stored
# under the SHA-256 of their token.
user_credentials = Table(
    "user_credentials",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("name", String(NAME), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "name"),
)

ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("key", String(HASH), primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "name"),
    Index(None, "expires_at"),
)

# Evals (0009): immutable, digested suite versions; runs bound to (version digest, model
# snapshot, suite digest); every graded case with its request, response and assertions.
eval_suites = Table(
    "eval_suites",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("name", String(NAME), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("digest", String(HASH), nullable=False),
    Column("body", ExactJson, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    UniqueConstraint("project", "name", "digest"),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(NAME), nullable=False),
    Column("suite", String(NAME), nullable=False),
    Column("suite_version", Integer, nullable=False),
    Column("suite_digest", String(HASH), nullable=False),
    Column("prompt", String(NAME), nullable=False),
    Column("version", Integer, nullable=False),
    Column("version_digest", String(HASH), nullable=False),
    Column("model", Json, nullable=False),
    Column("params", Json, nullable=False),
    Column("model_snapshot", String(HASH), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("passed_cases", Integer, nullable=False),
    Column("failed_cases", Integer, nullable=False),
    Column("error_cases", Integer, nullable=False),
    Column("tokens_in", BigInteger, nullable=False),
    Column("tokens_out", BigInteger, nullable=False),
    Column("cost", Float, nullable=True),
    Column("actor", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=True),
    Column("owner", String(64), nullable=True),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("replay_id", String(64), nullable=True),
    Column("replay_role", String(16), nullable=True),
    Column("inline_suite", ExactJson, nullable=True),
    ForeignKeyConstraint(["project"], ["projects.name"]),
    Index(None, "project", "created_at"),
    Index(None, "project", "version_digest"),
    Index(None, "status"),
    Index(None, "replay_id"),
)

eval_case_results = Table(
    "eval_case_results",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("case_id", String(NAME), primary_key=True),
    Column("idx", Integer, nullable=False),
    Column("request", Json, nullable=False),
    Column("response", Json, nullable=True),
    Column("assertions", Json, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    Column("needs_judge", Boolean, nullable=False),
    Column("deterministic_passed", Boolean, nullable=False),
    Column("has_deterministic", Boolean, nullable=False),
    Column("tokens_in", Integer, nullable=True),
    Column("tokens_out", Integer, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("cost", Float, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["run_id"], ["eval_runs.id"]),
)

# The dependency catalog (0013): immutable (kind, name, version) entries, and drift counts.
dep_entries = Table(
    "dep_entries",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("digest", String(HASH), nullable=False),
    Column("body", ExactJson, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Models only, set when the provider announces it; not covered by the digest.
    Column("retires_on", String(10), nullable=True),
    ForeignKeyConstraint(["project"], ["projects.name"]),
)

dep_drift = Table(
    "dep_drift",
    metadata,
    Column("project", String(NAME), primary_key=True),
    Column("prompt", String(NAME), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("label", String(NAME), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("observed", String(256), primary_key=True),
    Column("expected", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    # When its deps.drift event was written (migration 0016); NULL until an announcement
    # claims it, so a server that stopped between storing and announcing is caught up.
    Column("announced_at", UtcDateTime, nullable=True),
    ForeignKeyConstraint(["project"], ["projects.name"]),
)
