"""The storage interface the service layer talks to.

A ``Store`` hands out units of work. Everything done inside one ``UnitOfWork`` commits or rolls
back together; this is how a label move, its audit row and its outbox event land atomically.
A writing unit of work first calls ``lock_project``, which serializes writers of one project
(``SELECT ... FOR UPDATE`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite) so that version
numbers, the audit chain and event sequence numbers never fork.

Repositories return domain objects; nothing here mentions SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from promptstage.domain.calls import CallFilter, CallRecord, Score
from promptstage.domain.models import (
    ApiKey,
    AuditRecord,
    Event,
    LabelMove,
    Project,
    Prompt,
    Version,
)


@dataclass(frozen=True, slots=True)
class SnapshotRows:
    """What a project's resolvable state is built from, read in one consistent transaction."""

    seq: int
    prompts: list[Prompt]
    labels: dict[str, dict[str, int]]  # prompt -> label -> version
    versions: list[Version]  # every version a label (or latest) points at


class UnitOfWork(Protocol):
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
    def list_prompts(self, project: str, *, limit: int, after: str | None) -> list[Prompt]:
        """Prompts ordered by name, starting after the name ``after``."""
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

    def list_audit(self, project: str, *, limit: int, before: int | None) -> list[AuditRecord]:
        """Audit rows newest first, starting below sequence ``before``."""
        ...

    def iter_audit(self, project: str) -> Iterator[AuditRecord]:
        """Every audit row in sequence order (for verification)."""
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
    def delete_calls_before(self, at: datetime) -> int:
        """Retention: remove calls (and their scores) older than ``at`` in every project."""
        ...

    # snapshot -----------------------------------------------------------------------------
    def snapshot_rows(self, project: str) -> SnapshotRows: ...


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

    def close(self) -> None: ...
