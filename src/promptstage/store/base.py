"""The storage interface the service layer talks to.

A ``Store`` hands out units of work. Everything done inside one ``UnitOfWork`` commits or rolls
back together; this is how a label move, its audit row and its outbox event land atomically.
A writing unit of work first calls ``lock_project``, which serializes writers of one project
(``SELECT ... FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite) so that version
numbers, the audit chain and event sequence numbers never fork.

``UnitOfWork`` is the union of one repository Protocol per concern, mirroring the modules of
``store/sql/``: ``CatalogRepo``, ``LedgerRepo``, ``CallsRepo``, ``QualityRepo``, ``ReleasesRepo``,
``WebhooksRepo``, ``GovernanceRepo``, ``IdempotencyRepo``, ``UsersRepo``, ``EvalsRepo``, ``DepsRepo`` and
``OverviewRepo`` (the admin UI's reads). A helper that needs only one of them says so in its
signature, so what it may touch is visible there.

Repositories return domain objects; nothing here mentions SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple, Protocol

from promptstage.domain.audit import AuditFilter
from promptstage.domain.calls import CallFilter, CallRecord, Score
from promptstage.domain.deps import CatalogEntry
from promptstage.domain.drift import DriftCount, Mismatch
from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus, EvalSuiteRecord
from promptstage.domain.governance import ChangeRequest, ProjectSettings
from promptstage.domain.idempotency import IdempotencyRecord, StoredResponse
from promptstage.domain.models import (
    ApiKey,
    AuditRecord,
    Event,
    LabelMove,
    Project,
    Prompt,
    Role,
    Version,
)
from promptstage.domain.principals import PrincipalRecord
from promptstage.domain.quality import Grouping, QualityBucket
from promptstage.domain.releases import Release, ReleaseChange, ReleaseLook, ReleaseMetrics
from promptstage.domain.users import Membership, SessionRecord, UserCredential
from promptstage.domain.webhooks import Delivery, Webhook

MetricsSource = Literal["rollups", "calls"]
"""Where the release metrics' call sums are read from (see ``store/sql/rollups.py``)."""


class SnapshotPrompt(NamedTuple):
    """What the snapshot holds of a prompt (its description and tags are not resolvable)."""

    name: str
    type: str
    latest_version: int


@dataclass(frozen=True, slots=True)
class SnapshotRows:
    """What a project's resolvable state is built from, read in one consistent transaction."""

    seq: int
    prompts: list[SnapshotPrompt]
    labels: dict[str, dict[str, int]]  # prompt -> label -> version
    versions: list[Version]  # every version a label, latest or an active release points at
    releases: list[Release] = field(default_factory=list)  # running and paused releases


class CatalogRepo(Protocol):
    """What can be resolved: projects, prompts, immutable versions, movable labels."""

    # projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str, at: datetime) -> Project: ...
    def get_project(self, name: str) -> Project | None: ...
    def list_projects(self) -> list[Project]: ...
    def lock_project(self, name: str) -> Project | None:
        """Take the project's write lock for the rest of this unit of work."""
        ...

    # prompts ------------------------------------------------------------------------------
    def add_prompt(self, prompt: Prompt) -> None: ...
    def get_prompt(self, project: str, name: str) -> Prompt | None: ...
    def set_prompt(self, prompt: Prompt) -> None:
        """Replace the prompt's description, tags and ``archived_at``."""
        ...

    def list_prompts(
        self, project: str, *, limit: int, after: str | None, archived: bool = False
    ) -> list[Prompt]:
        """Prompts ordered by name, starting after the name ``after``; archived ones are left
        out, or alone with ``archived``."""
        ...

    # versions -----------------------------------------------------------------------------
    def add_version(self, project: str, version: Version) -> None:
        """Insert a version and make it the prompt's ``latest_version``."""
        ...

    def get_version(self, project: str, prompt: str, number: int) -> Version | None: ...
    def get_version_by_digest(self, project: str, prompt: str, digest: str) -> Version | None: ...
    def list_versions(
        self, project: str, prompt: str, *, limit: int, before: int | None
    ) -> list[Version]:
        """Versions newest first, starting below number ``before``."""
        ...

    # labels -------------------------------------------------------------------------------
    def get_labels(self, project: str, prompt: str) -> dict[str, int]: ...
    def set_label(
        self, project: str, prompt: str, label: str, version: int, at: datetime
    ) -> None: ...
    def delete_label(self, project: str, prompt: str, label: str) -> None: ...
    def add_label_move(self, project: str, move: LabelMove) -> None: ...
    def label_history(
        self, project: str, prompt: str, label: str, *, limit: int, before: int | None
    ) -> list[tuple[int, LabelMove]]:
        """Moves newest first as ``(id, move)``, starting below id ``before``."""
        ...


class LedgerRepo(Protocol):
    """What happened and who may act: the audit chain, the event outbox and API keys."""

    # audit and outbox ---------------------------------------------------------------------
    def append_audit(
        self,
        project: str,
        *,
        actor: str,
        action: str,
        target: str,
        before: Any,
        after: Any,
        reason: str,
        at: datetime,
    ) -> AuditRecord:
        """Chain a new audit row onto the project's head (caller holds the project lock)."""
        ...

    def list_audit(
        self, project: str, *, limit: int, before: int | None, where: AuditFilter | None = None
    ) -> list[AuditRecord]:
        """Audit rows newest first, starting below sequence ``before``, filtered by ``where``."""
        ...

    def iter_audit(self, project: str) -> Iterator[AuditRecord]:
        """Every audit row in sequence order (for verification)."""
        ...

    def audit_head(self, project: str) -> tuple[int, str]:
        """``(seq, hash)`` of the project's chain head as the application last wrote it."""
        ...

    def append_event(self, project: str, type_: str, data: dict[str, Any], at: datetime) -> Event:
        """Add an outbox event with the project's next sequence number."""
        ...

    def events_since(self, project: str, seq: int, *, limit: int) -> list[Event]: ...
    def last_event_seq(self, project: str) -> int: ...

    # keys ---------------------------------------------------------------------------------
    def add_key(self, key: ApiKey, secret_hash: str) -> None: ...
    def get_key(self, prefix: str) -> tuple[ApiKey, str] | None:
        """The key with this prefix and its stored secret hash."""
        ...

    def list_keys(self, project: str | None) -> list[ApiKey]: ...
    def revoke_key(self, prefix: str, at: datetime) -> None: ...
    def count_keys(self) -> int: ...
    def set_key_expiry(self, prefix: str, expires_at: datetime) -> None:
        """Set when the key stops working (a rotation's grace period)."""
        ...

    # principals ---------------------------------------------------------------------------
    def add_principal(self, principal: PrincipalRecord) -> None:
        """Store a principal; ``ConflictError`` when its name is taken in its scope."""
        ...

    def get_principal(self, project: str | None, name: str) -> PrincipalRecord | None:
        """The principal ``name`` of ``project`` (``None``: instance-level), or ``None``."""
        ...

    def list_principals(self, project: str | None) -> list[PrincipalRecord]:
        """Principals of ``project`` (``None``: instance-level ones), by name."""
        ...


class CallsRepo(Protocol):
    """The call log: recorded prompt calls and the scores attached to them."""

    # call log -----------------------------------------------------------------------------
    def add_calls(self, project: str, calls: list[CallRecord]) -> int:
        """Insert call records, skipping ids already stored (retried batches); returns how
        many were new."""
        ...

    def add_scores(self, project: str, scores: list[Score]) -> None: ...
    def list_calls(
        self, project: str, where: CallFilter, *, limit: int, before: tuple[datetime, str] | None
    ) -> list[CallRecord]:
        """Calls newest first, starting below the ``(at, id)`` position ``before``."""
        ...

    def get_call(self, project: str, call_id: str) -> CallRecord | None: ...
    def scores_of(self, project: str, call_id: str) -> list[Score]: ...
    def ensure_call_partitions(self, today: date) -> list[date]:
        """Create the call log's partitions of ``today`` and the next days (Postgres)."""
        ...

    def delete_calls_before(self, at: datetime) -> int:
        """Retention: remove calls (and their scores) older than ``at`` in every project."""
        ...


class QualityRepo(Protocol):
    """Read-only aggregates of the call log for the quality page (``store/sql/quality.py``)."""

    def quality_buckets(
        self, project: str, prompt: str, group: Grouping, bounds: Sequence[datetime]
    ) -> list[QualityBucket]:
        """Per ``group`` (version or label) and per time bucket ``bounds[i] <= at <
        bounds[i + 1]``: calls, errors, nearest-rank latency p50/p95/p99, tokens, cost, scores."""
        ...

    def score_names(self, project: str, prompt: str, since: datetime) -> list[str]:
        """The score names attached to ``prompt``'s calls made at or after ``since``."""
        ...


class ReleasesRepo(Protocol):
    """Progressive releases, their history, the controller's looks and their metrics."""

    # releases -----------------------------------------------------------------------------
    def add_release(self, release: Release) -> None:
        """Insert a release; ``ConflictError`` if its label already has an active one."""
        ...

    def update_release(self, release: Release) -> None: ...
    def get_release(self, project: str, release_id: str) -> Release | None: ...
    def active_release(self, project: str, prompt: str, label: str) -> Release | None:
        """The running or paused release of ``(prompt, label)``."""
        ...

    def active_releases(self, project: str, prompt: str | None = None) -> list[Release]: ...
    def running_releases(self) -> list[Release]:
        """Every running release of every project (the controller's work list)."""
        ...

    def list_releases(
        self,
        project: str,
        *,
        state: str | None,
        prompt: str | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[Release]:
        """Releases newest first, starting below the ``(created_at, id)`` position ``before``."""
        ...

    def add_release_change(self, change: ReleaseChange) -> None: ...
    def release_history(self, release_id: str) -> list[ReleaseChange]:
        """A release's history, oldest first."""
        ...

    def add_look(self, look: ReleaseLook) -> ReleaseLook:
        """Store a look; returns it with its id."""
        ...

    def list_looks(self, release_id: str, *, limit: int, before: int | None) -> list[ReleaseLook]:
        """Looks newest first, starting below id ``before``."""
        ...

    def release_metrics(
        self, release: Release, window: tuple[datetime, datetime] | None = None
    ) -> ReleaseMetrics:
        """Per-step, per-arm sums of per-unit metric means, aggregated by the database; with
        ``window`` ``(since, until)`` also the per-call sums of the calls made in
        ``(since, until]``."""
        ...

    def releases_metrics(
        self,
        project: str,
        releases: Sequence[Release],
        windows: Mapping[str, tuple[datetime, datetime]] | None = None,
        *,
        source: MetricsSource = "rollups",
    ) -> dict[str, ReleaseMetrics]:
        """``release_metrics`` of several releases of one project, in one pass; ``source``:
        the call log's per-minute rollups, or a scan of the raw calls (to check them)."""
        ...

    def score_names_before(
        self, project: str, prompt: str, version: int, since: datetime, until: datetime
    ) -> list[str]:
        """Score names logged on a version by calls made in ``[since, until)`` (sorted)."""
        ...

    def covariates_taken(self, release_ids: Sequence[str]) -> set[str]:
        """The releases among ``release_ids`` whose units' history has been taken."""
        ...

    def take_covariates(self, release: Release, at: datetime) -> bool:
        """Store, once, each unit's pre-release history of a running or paused release (the
        variance reduction's covariate), so that later looks join it instead of scanning the
        prompt's history; False when it was taken already or the release has ended."""
        ...

    def drop_ended_covariates(self) -> int:
        """Drop the stored history of the releases no longer active; returns how many."""
        ...

    # the controller's clock ---------------------------------------------------------------
    def database_now(self) -> datetime:
        """The database's current time (aware, UTC): what bake deadlines are measured on, so
        that a restarted or skewed process agrees with the one that started the step."""
        ...


class WebhooksRepo(Protocol):
    """Webhook subscriptions and the queue of their deliveries."""

    # webhooks -----------------------------------------------------------------------------
    def add_webhook(self, hook: Webhook) -> None: ...
    def get_webhook(self, project: str, webhook_id: str) -> Webhook | None: ...
    def list_webhooks(self, project: str | None) -> list[Webhook]:
        """Webhooks of ``project``; ``None``: of every project."""
        ...

    def delete_webhook(self, project: str, webhook_id: str) -> bool: ...
    def set_webhook_cursor(self, webhook_id: str, seq: int) -> None: ...
    def add_delivery(self, delivery: Delivery) -> None:
        """Queue a delivery (ignored if that webhook already has one for that event)."""
        ...

    def due_deliveries(self, now: datetime, *, limit: int) -> list[Delivery]: ...
    def update_delivery(self, delivery: Delivery) -> None: ...
    def list_deliveries(self, webhook_id: str, *, limit: int, before: int | None) -> list[Delivery]:
        """A webhook's deliveries newest first, starting below id ``before``."""
        ...


class GovernanceRepo(Protocol):
    """Per-project policy (protected labels, four-eyes) and change requests."""

    # governance ---------------------------------------------------------------------------
    def project_settings(self, project: str) -> ProjectSettings | None:
        """Protected labels and four-eyes of ``project``; ``None`` if it does not exist."""
        ...

    def set_project_settings(self, project: str, settings: ProjectSettings) -> None: ...
    def add_change_request(self, request: ChangeRequest) -> None: ...
    def get_change_request(self, project: str, request_id: str) -> ChangeRequest | None: ...
    def decide_change_request(
        self, project: str, request_id: str, state: str, by: str, at: datetime, reason: str
    ) -> None:
        """Record ``state`` (approved or rejected) on an open request."""
        ...

    def list_change_requests(
        self,
        project: str,
        *,
        states: tuple[str, ...] | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ChangeRequest]:
        """Requests newest first, starting below the ``(created_at, id)`` position ``before``."""
        ...

    def change_requests_decided_at(self, project: str, at: datetime) -> list[ChangeRequest]:
        """Approved requests whose decision (and applied change) happened at ``at``."""
        ...


class IdempotencyRepo(Protocol):
    """Claims of ``Idempotency-Key`` values and the answers they replay. Every change but the
    first claim is conditional on ``owner``, so an attempt whose claim was taken over can
    neither apply nor finish it."""

    def claim_idempotency(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        """Insert ``record`` unless ``(scope, key)`` is taken: ``None`` when inserted, else the
        record already there (concurrent claims: exactly one inserts)."""
        ...

    def replace_idempotency(self, owner: str, record: IdempotencyRecord) -> bool:
        """Replace the claim held by ``owner`` (expired or abandoned) with ``record``;
        ``False`` if another attempt changed it first."""
        ...

    def mark_idempotency_applied(self, scope: str, key: str, owner: str) -> bool:
        """Record that the attempt ``owner`` committed a write (in that write's transaction);
        ``False`` if the claim is not ``owner``'s any more."""
        ...

    def finish_idempotency(
        self, scope: str, key: str, owner: str, response: StoredResponse
    ) -> bool:
        """Store the answer of the attempt ``owner``; ``False`` if the claim is not its."""
        ...

    def release_idempotency(self, scope: str, key: str, owner: str) -> None:
        """Drop ``owner``'s claim if nothing was applied under it (a retry may run again)."""
        ...

    def delete_idempotency_before(self, at: datetime) -> int:
        """Delete claims taken before ``at``; the number deleted."""
        ...


class UsersRepo(Protocol):
    """People who sign in to the UI: one password hash per principal name (instance-wide), a
    role per project, and sessions stored under the SHA-256 of their token."""

    # credentials --------------------------------------------------------------------------
    def get_credential(self, name: str) -> UserCredential | None:
        """The password hash of ``name``, or ``None`` when it has none."""
        ...

    def set_credential(self, credential: UserCredential) -> None:
        """Store ``credential``, replacing the hash of that name if it had one."""
        ...

    # memberships --------------------------------------------------------------------------
    def set_membership(self, membership: Membership) -> None:
        """Grant ``membership.role`` in its project (replacing a role held there);
        ``NotFoundError`` if the project does not exist."""
        ...

    def get_membership(self, project: str, name: str) -> Membership | None: ...
    def delete_membership(self, project: str, name: str) -> bool:
        """Remove ``name``'s role in ``project``; ``False`` if it had none."""
        ...

    def memberships_of(self, name: str) -> dict[str, Role]:
        """Every project where ``name`` has a role, with that role."""
        ...

    def list_memberships(self, project: str) -> list[Membership]:
        """The memberships of ``project``, by name."""
        ...

    # sessions -----------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None: ...
    def get_session(self, key: str) -> SessionRecord | None: ...
    def touch_session(self, key: str, at: datetime) -> None:
        """Record activity on session ``key`` at ``at``."""
        ...

    def revoke_session(self, key: str, at: datetime) -> bool:
        """Revoke session ``key``; ``False`` if unknown or revoked already."""
        ...

    def revoke_sessions_of(self, name: str, at: datetime) -> int:
        """Revoke every live session of ``name``; how many were revoked."""
        ...

    def delete_sessions_before(self, at: datetime) -> int:
        """Delete sessions that expired or were revoked before ``at``; how many."""
        ...


class OverviewRepo(Protocol):
    """Reads of the admin UI's overview and prompt pages: a filtered page of prompts, and for
    the prompts of one page their labels, the last move of each label and each label's latest
    release, every one a single query whatever the page holds."""

    def search_prompts(
        self,
        project: str,
        *,
        contains: str | None,
        tag: str | None,
        label: str | None,
        limit: int,
        after: str | None,
    ) -> list[Prompt]:
        """Prompts by name after ``after``: whose name contains ``contains`` (ignoring case),
        that carry ``tag``, that have ``label`` (``latest``: any version); ``None`` filters
        nothing."""
        ...

    def labels_in_use(self, project: str) -> list[str]:
        """Every label set on some prompt of ``project``, by name."""
        ...

    def labels_of(self, project: str, prompts: Sequence[str]) -> dict[str, dict[str, int]]:
        """``prompt -> label -> version`` of ``prompts`` (those without labels are absent)."""
        ...

    def last_label_moves(
        self, project: str, prompts: Sequence[str]
    ) -> dict[tuple[str, str], LabelMove]:
        """The newest move of every ``(prompt, label)`` of ``prompts`` that has one."""
        ...

    def latest_releases(
        self, project: str, prompts: Sequence[str]
    ) -> dict[tuple[str, str], Release]:
        """The newest release of every ``(prompt, label)`` of ``prompts`` that had one."""
        ...

    def prompt_moves(
        self, project: str, prompt: str, *, limit: int, before: int | None
    ) -> list[tuple[int, LabelMove]]:
        """Moves of every label of ``prompt`` newest first as ``(id, move)``, below ``before``."""
        ...

    def prompt_counts(self, projects: Sequence[str]) -> dict[str, tuple[int, int]]:
        """``project -> (prompts, agents)``; an agent is the part of a prompt's name before its
        first dot (a name without a dot is an agent of its own)."""
        ...


class EvalsRepo(Protocol):
    """Eval suites (immutable, digested versions per project), runs bound to (version digest,
    model snapshot, suite digest), and every graded case. A runner claims a queued run with a
    conditional update, so two replicas never run the same run; every later write of the
    runner is conditional on its claim."""

    # suites -------------------------------------------------------------------------------
    def add_eval_suite(self, suite: EvalSuiteRecord) -> None:
        """Insert a suite version; ``ConflictError`` if that version or digest exists."""
        ...

    def get_eval_suite(
        self, project: str, name: str, version: int | None = None
    ) -> EvalSuiteRecord | None:
        """Version ``version`` of a suite, or its newest when ``version`` is ``None``."""
        ...

    def get_eval_suite_by_digest(
        self, project: str, name: str, digest: str
    ) -> EvalSuiteRecord | None: ...
    def list_eval_suites(self, project: str) -> list[EvalSuiteRecord]:
        """The newest version of each of the project's suites, by name."""
        ...

    def list_eval_suite_versions(self, project: str, name: str) -> list[EvalSuiteRecord]:
        """Every version of a suite, newest first."""
        ...

    # runs ---------------------------------------------------------------------------------
    def add_eval_run(self, run: EvalRun) -> None: ...
    def get_eval_run(self, run_id: str) -> EvalRun | None: ...
    def list_eval_runs(
        self,
        project: str,
        *,
        suite: str | None,
        prompt: str | None,
        limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[EvalRun]:
        """Runs newest first, below the ``(created_at, id)`` position ``before``."""
        ...

    def eval_runs_of_version(self, project: str, version_digest: str) -> list[EvalRun]:
        """Every suite run (not replay runs) of a version digest, oldest first."""
        ...

    def eval_runs_of_replay(self, project: str, replay_id: str) -> list[EvalRun]:
        """The baseline and candidate runs of a replay."""
        ...

    def queued_eval_runs(self, *, limit: int) -> list[str]:
        """Ids of queued runs of every project, oldest first."""
        ...

    def claim_eval_run(self, run_id: str, owner: str, at: datetime) -> bool:
        """Move a queued run to running for ``owner``; ``False`` if another claimed it first."""
        ...

    def heartbeat_eval_run(self, run_id: str, owner: str, at: datetime) -> bool:
        """Refresh ``owner``'s claim; ``False`` when the run no longer runs for it."""
        ...

    def add_eval_case(self, owner: str, case: EvalCaseRecord) -> bool:
        """Store a graded case and count it in the run's progress, only while the run is
        running for ``owner``; ``False`` (nothing written) otherwise."""
        ...

    def finish_eval_run(
        self, run_id: str, owner: str, status: EvalRunStatus, at: datetime, error: str | None
    ) -> bool:
        """End ``owner``'s running run with ``status``; ``False`` if it is not running for it."""
        ...

    def set_eval_run_status(
        self,
        run_id: str,
        from_states: Sequence[EvalRunStatus],
        status: EvalRunStatus,
        at: datetime,
    ) -> bool:
        """Move a run in one of ``from_states`` to ``status`` (cancel, resume), dropping the
        runner's claim; ``False`` if it was in another state."""
        ...

    def interrupt_stale_eval_runs(self, heartbeat_before: datetime, at: datetime) -> list[str]:
        """Mark ``interrupted`` every running run not heard from since ``heartbeat_before``."""
        ...

    # cases --------------------------------------------------------------------------------
    def list_eval_cases(
        self, run_id: str, *, limit: int, after: int | None = None
    ) -> list[EvalCaseRecord]:
        """A run's cases in suite order, starting after index ``after``."""
        ...

    def eval_case_ids(self, run_id: str) -> set[str]: ...


class DepsRepo(Protocol):
    """The dependency catalog (immutable entries) and drift counters."""

    def add_dep_entry(self, entry: CatalogEntry) -> None:
        """Insert an entry; ``ConflictError`` if its (kind, name, version) exists."""
        ...

    def get_dep_entry(
        self, project: str, kind: str, name: str, version: str
    ) -> CatalogEntry | None: ...
    def list_dep_entries(
        self, project: str, kind: str | None = None, name: str | None = None
    ) -> list[CatalogEntry]:
        """Entries by kind and name, each name's versions oldest first."""
        ...

    def set_dep_retirement(
        self, project: str, kind: str, name: str, version: str, retires_on: date | None
    ) -> bool:
        """Set or clear a model's retirement date; ``False`` if the entry does not exist."""
        ...

    def version_configs(self, project: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """``(prompt, number, config)`` of every version, by prompt and number."""
        ...

    def count_drift(
        self,
        project: str,
        prompt: str,
        version: int,
        label: str,
        m: Mismatch,
        at: datetime,
        n: int = 1,
    ) -> bool:
        """Count ``n`` mismatching calls; ``True`` when the (kind, observed) is new there."""
        ...

    def claim_drift(
        self, project: str, prompt: str, version: int, label: str, m: Mismatch, at: datetime
    ) -> bool:
        """Mark a mismatch announced; ``True`` for the one caller that did."""
        ...

    def unannounced_drift(self, limit: int) -> list[DriftCount]:
        """Mismatches no announcement has claimed yet, oldest first."""
        ...

    def list_drift(
        self,
        project: str | None,
        prompt: str | None = None,
        version: int | None = None,
        label: str | None = None,
    ) -> list[DriftCount]:
        """Drift counters (``project=None``: every project), most recent first."""
        ...


class UnitOfWork(
    DepsRepo,
    CatalogRepo,
    LedgerRepo,
    CallsRepo,
    QualityRepo,
    ReleasesRepo,
    WebhooksRepo,
    GovernanceRepo,
    IdempotencyRepo,
    UsersRepo,
    OverviewRepo,
    EvalsRepo,
    Protocol,
):
    """One transaction over every repository: it commits or rolls back as a whole."""

    # snapshot -----------------------------------------------------------------------------
    def snapshot_rows(self, project: str) -> SnapshotRows: ...


class Leadership(Protocol):
    def acquire(self) -> bool:
        """Take (or confirm) the replica-wide lock; ``True`` while this process holds it."""
        ...

    def release(self) -> None: ...


class Store(Protocol):
    def unit_of_work(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A transaction; ``write=True`` for one that changes anything."""
        ...

    def ping(self) -> None:
        """Raise ``ServiceUnavailableError`` if the database cannot be reached."""
        ...

    def watch(
        self, callback: Callable[[str, int], None], on_reconnect: Callable[[], None]
    ) -> Callable[[], None] | None:
        """Call ``callback(project, seq)`` when another process commits an event.

        Returns the function that stops watching, or ``None`` when the store is private to
        this process (SQLite), where the in-process bus already sees every event.
        """
        ...

    def leadership(self, name: str) -> Leadership:
        """The replica-wide lock ``name``: one process at a time runs what it guards."""
        ...

    def close(self) -> None: ...
