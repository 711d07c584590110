"""The sync protocol without I/O: what to request, and what each answer or line means.

``Client`` (threads, ``httpx.Client``) and ``AsyncClient`` (tasks, ``httpx.AsyncClient``) do
the I/O and the waiting; both hand every response, stream line and exception to one
:class:`SyncCore`, which verifies and installs states, classifies failures and keeps the
status. So the two clients cannot drift apart in what they accept.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import httpx

from promptstage.domain.events import StreamSignal
from promptstage.errors import IntegrityError

from .events import apply_event
from .lkg import holds, load_bootstrap, read_lkg, try_write_lkg, writer_lock
from .options import Options
from .sse import SSEEvent, SSEParser
from .state import State, build_state
from .status import Status

__all__ = ["Action", "Failure", "IngestOutcome", "SyncCore"]

log = logging.getLogger("promptstage")

# The last-known-good file is rewritten at most once per this many times its last write's
# duration (and never more often than ``lkg_write_interval``).
LKG_BUSY_FACTOR: Final = 10.0

IngestOutcome = Literal["sent", "retry", "drop"]
FailureKind = Literal[
    "transport", "timeout", "auth", "not_found", "server", "integrity", "protocol"
]


class Failure(Exception):
    """One failed sync attempt, with how to retry it.

    Attributes:
        message: What went wrong, naming the URL or the field, and the fix when there is one.
        kind: ``auth`` and ``not_found`` are retried slowly (``auth_retry_interval``); the
            others with backoff.
        retry_after: The server's ``Retry-After`` in seconds, if it sent one.
    """

    def __init__(self, message: str, kind: FailureKind, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after

    @property
    def slow(self) -> bool:
        """True when retrying soon cannot help (bad key, wrong project)."""
        return self.kind in ("auth", "not_found")


class Action(enum.Enum):
    """What the I/O loop should do after a stream line."""

    NONE = "none"
    CHANGED = "changed"
    REFETCH = "refetch"


def load_local(opts: Options) -> State | None:
    """The last-known-good file if valid, else ``opts.bootstrap``; no network."""
    if opts.cache_file is not None:
        found = read_lkg(opts.cache_file, packed=True)
        if found is not None:
            try:
                return build_state(
                    found[0],
                    opts.project,
                    source="lkg",
                    etag=found[1],
                    max_rendered_bytes=opts.max_rendered_bytes,
                )
            except IntegrityError as exc:
                log.warning(
                    "promptstage: ignoring last-known-good file %s: %s", opts.cache_file, exc
                )
    if opts.bootstrap is not None:
        snapshot = load_bootstrap(opts.bootstrap)
        if snapshot is not None:
            try:
                return build_state(
                    snapshot,
                    opts.project,
                    source="bootstrap",
                    max_rendered_bytes=opts.max_rendered_bytes,
                )
            except IntegrityError as exc:
                log.error("promptstage: ignoring bootstrap: %s", exc)
    return None


class SyncCore:
    """Shared state machine of the sync loop: one per feed, read by every client subscribed."""

    def __init__(self, options: Options) -> None:
        self.opts = options
        self.state: State | None = None
        self._listeners: tuple[Callable[[State], None], ...] = ()
        # Held while a state is set and published: a subscriber never misses a state, and
        # never gets an older one last.
        self._listen_lock = threading.Lock()
        self.connected = False
        self.init_done = False
        self.mode: Literal["stream", "poll"] = "stream" if options.stream else "poll"
        self.last_error: str | None = None
        self.last_sync_at: float | None = None
        self.retry_after: float | None = None  # the last failure's Retry-After, until used
        self.lkg_dirty = False
        # The file refused a version (its digest): rewrite it, even over the same state.
        self._file_refused = False
        self.cache_warning: str | None = None  # why the last write of the cache file failed
        self._lkg_written_at = float("-inf")
        self._lkg_cost = 0.0  # seconds the last write took
        self._parser = SSEParser()
        self._logged: dict[str, float] = {}
        root = options.root
        self.snapshot_url = f"{root}/snapshot"
        self.events_url = f"{root}/events"
        self.calls_url = f"{root}/calls"
        self.scores_url = f"{root}/scores"

    # -- state ----------------------------------------------------------------------------

    def subscribe(self, publish: Callable[[State], None]) -> None:
        """Call ``publish`` with every state installed from now on, and the one held now."""
        with self._listen_lock:
            self._listeners += (publish,)
            if self.state is not None:
                publish(self.state)

    def unsubscribe(self, publish: Callable[[State], None]) -> None:
        """Stop calling ``publish``."""
        with self._listen_lock:
            self._listeners = tuple(p for p in self._listeners if p != publish)

    def install(self, state: State) -> None:
        """Make ``state`` the one ``get`` reads (an atomic pointer swap in each subscriber)."""
        with self._listen_lock:
            old = self.state
            self._set(state)
        if old is not None and old.source == "lkg" and old.store.refused is not None:
            self._file_refused = True
        self.lkg_dirty = True

    def adopt(self, local: State) -> None:
        """Install a state read from the last-known-good file or a bootstrap, unless a state is
        held already (a newer local one, or the server's: never replaced by an older one). Not
        dirty: it came from the file, or from the caller."""
        with self._listen_lock:
            if self.state is None:
                self._set(local)

    def adopt_local(self, options: Options) -> None:
        """:meth:`adopt` what :func:`load_local` finds for ``options`` (no network)."""
        local = load_local(options)
        if local is not None:
            self.adopt(local)

    def _set(self, state: State) -> None:
        self.state = state
        for publish in self._listeners:
            publish(state)

    def _healthy(self) -> None:
        self.connected = True
        self.last_error = None
        self.last_sync_at = time.time()
        self.retry_after = None

    def failed(self, failure: Failure) -> None:
        """Record a failed attempt: serve what is held, report why."""
        self.connected = False
        self.retry_after = failure.retry_after
        if failure.message != self.last_error:
            log.warning("promptstage: %s", failure.message)
        self.last_error = failure.message

    def reconnect_delay(self, delay: float) -> float:
        """``delay`` (the backoff's), or longer when the server's ``Retry-After`` asked so."""
        asked, self.retry_after = self.retry_after, None
        return max(delay, asked or 0.0)

    # -- snapshot -------------------------------------------------------------------------

    def snapshot_headers(self) -> dict[str, str]:
        """Conditional request headers for ``GET /snapshot``."""
        state = self.state
        if (
            state is not None
            and state.etag
            and state.source in ("server", "lkg")
            and state.store.refused is None  # a refused version: fetch the server's bytes
        ):
            return {"If-None-Match": state.etag}
        return {}

    def on_snapshot(self, status: int, headers: Mapping[str, str], body: bytes) -> bool:
        """Handle a ``GET /snapshot`` answer; return True if the state changed.

        Raises:
            Failure: The answer is an error, or the snapshot is malformed or tampered (the
                state held is kept).
        """
        if status == 304 and self.state is not None:
            if self.state.source != "server":
                # The server confirms the file's content: verify what the file holds now (in
                # this background thread), since only the server's bytes are kept from here.
                refused = self.state.store.verify_all()
                if refused is not None:
                    raise Failure(
                        f"the last-known-good file holds a version that does not verify "
                        f"({refused}); fetching the whole snapshot",
                        "integrity",
                    )
                self.install(dataclasses.replace(self.state, source="server"))
            self._healthy()
            return False
        if status != 200:
            raise self.failure_for_status(status, headers, body, "GET /snapshot")
        try:
            data = json.loads(body)
        except ValueError:
            raise Failure(
                f"GET /snapshot from {self.opts.base_url} is not JSON", "integrity"
            ) from None
        held, seq = self.state, data.get("seq") if isinstance(data, dict) else None
        if held is not None and held.source == "server" and isinstance(seq, int) and seq < held.seq:
            # Ordering is by sequence number only, never by a clock: an older snapshot (a
            # lagging replica, one serving from memory through an outage) never replaces a newer.
            # Kept like a 304: the stream then resumes after the state held.
            message = (
                f"GET /snapshot from {self.opts.base_url} is at seq {seq}, older than the state "
                f"held (seq {held.seq}); keeping it (a lagging replica? if the database was "
                "restored to an earlier point, restart the client)"
            )
            self._healthy()
            self.last_error = message
            self._log_limited(logging.WARNING, "older-snapshot", message)
            return False
        try:
            new = build_state(
                data,
                self.opts.project,
                source="server",
                etag=headers.get("etag"),
                previous=self.state,
                max_rendered_bytes=self.opts.max_rendered_bytes,
            )
        except IntegrityError as exc:
            raise Failure(f"snapshot {exc.message}; keeping the state held", "integrity") from None
        self.install(new)
        self._healthy()
        return True

    # -- event stream ---------------------------------------------------------------------

    def events_headers(self) -> dict[str, str]:
        """Headers for ``GET /events``: resume after the state held."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.state is not None:
            headers["Last-Event-ID"] = str(self.state.seq)
        return headers

    def on_stream_open(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        """Check the ``GET /events`` answer before reading it.

        Raises:
            Failure: Not a ``200 text/event-stream``.
        """
        if status != 200:
            raise self.failure_for_status(status, headers, body, "GET /events")
        ctype = headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            raise Failure(
                f"GET /events from {self.opts.base_url} answered {ctype or 'no content type'}, "
                "not text/event-stream (a proxy buffering or rewriting the stream?); polling",
                "protocol",
            )
        self._parser = SSEParser()
        self.mode = "stream"
        self._healthy()

    def on_stream_end(self) -> None:
        """The server closed the stream cleanly (restart, proxy idle cut): reconnect."""
        self.connected = False
        self.last_error = f"GET /events: {self.opts.base_url} closed the stream; reconnecting"

    def on_line(self, line: str) -> Action:
        """Feed one stream line; apply the event it completes."""
        event = self._parser.feed(line)
        if event is None:
            if line[:1] == ":":
                self.last_sync_at = time.time()
            return Action.NONE
        self.last_sync_at = time.time()
        return self.on_event(event)

    def on_event(self, ev: SSEEvent) -> Action:
        """Apply one event, or ask for a snapshot refetch (reset, gap, rejected payload)."""
        state = self.state
        if state is None:
            return Action.REFETCH
        if ev.event == StreamSignal.RESET:
            return Action.REFETCH
        if ev.event == StreamSignal.HELLO:
            seq = _json(ev.data).get("seq")
            # The server is behind us (its database was replaced): start over from it.
            return Action.REFETCH if isinstance(seq, int) and seq < state.seq else Action.NONE
        if ev.id is None:
            return Action.NONE
        try:
            seq = int(ev.id)
        except ValueError:
            return Action.REFETCH
        if seq <= state.seq:
            return Action.NONE  # already applied (replayed after a reconnect)
        if seq > state.seq + 1:
            return Action.REFETCH  # missed events
        try:
            new, refetch = apply_event(state, ev.event, _json(ev.data), seq)
        except IntegrityError as exc:
            self.last_error = f"event {seq} ({ev.event}) {exc.message}; refetching the snapshot"
            log.warning("promptstage: %s", self.last_error)
            return Action.REFETCH
        if new is None:
            return Action.REFETCH
        self.install(new)
        return Action.REFETCH if refetch else Action.CHANGED

    # -- last-known-good file -------------------------------------------------------------

    def lkg_due(self, now: float, force: bool = False) -> bool:
        """True when the file should be rewritten: changed, and not written within
        ``lkg_write_interval``, nor within ``LKG_BUSY_FACTOR`` times the last write's duration
        (a large project's file costs seconds to write: at most a tenth of the time goes to it).
        """
        if not self.lkg_dirty or self.opts.cache_file is None or self.state is None:
            return False
        wait = max(self.opts.lkg_write_interval, LKG_BUSY_FACTOR * self._lkg_cost)
        return force or now - self._lkg_written_at >= wait

    def write_lkg(self, now: float) -> None:
        """Write the state held to the last-known-good file (blocking file I/O; the clients
        call it off the thread that reads events, one write at a time). Left to another process
        of the host that is writing the file (tried again when next due), and skipped when the
        file already holds this state and verifies (unless a version of it was refused)."""
        path = self.opts.cache_file
        self.lkg_dirty = False  # before reading the state: a state installed after is dirty again
        state = self.state
        if state is None or path is None:
            return
        self._lkg_written_at = now
        started = time.monotonic()
        with writer_lock(path) as mine:
            if not mine:  # another process of the host is writing this file: look again later
                self.lkg_dirty = True
                return
            if not self._file_refused and holds(path, state.project, state.seq, state.etag):
                return  # another process wrote this very state
            problem = try_write_lkg(path, state.to_snapshot(packed=True), state.etag)
            self._file_refused = self._file_refused and problem is not None
        self._lkg_cost = time.monotonic() - started
        if problem is not None:
            self.lkg_dirty = True
            if problem != self.cache_warning:  # log once per cause, not at every retry
                log.warning(
                    "promptstage: %s; serving goes on without it (set PROMPTSTAGE_CACHE_DIR "
                    "or cache_path=, or cache_path=None to turn it off)",
                    problem,
                )
        self.cache_warning = problem

    # -- failures -------------------------------------------------------------------------

    def failure_for_status(
        self, status: int, headers: Mapping[str, str], body: bytes, what: str
    ) -> Failure:
        """Classify an HTTP error answer."""
        url, project = self.opts.base_url, self.opts.project
        detail = _error_message(body)
        detail = f": {detail}" if detail else ""
        if status == 401:
            return Failure(
                f"{what}: {url} rejected the API key (401{detail}); check api_key "
                f"(retrying every {self.opts.auth_retry_interval:g} s)",
                "auth",
            )
        if status == 403:
            return Failure(
                f"{what}: the API key may not read project {project!r} at {url} (403{detail}); "
                f"use a key of this project (retrying every {self.opts.auth_retry_interval:g} s)",
                "auth",
            )
        if status == 404:
            return Failure(
                f"{what}: project {project!r} not found at {url} (404{detail}); check the project "
                "name and base_url",
                "not_found",
            )
        if status in (408, 429) or status >= 500:
            return Failure(
                f"{what}: {url} answered {status}{detail}", "server", _retry_after(headers)
            )
        return Failure(f"{what}: {url} answered {status}{detail}", "protocol")

    def failure_for_exception(self, exc: Exception, what: str) -> Failure:
        """Classify a transport exception."""
        url = self.opts.base_url
        if isinstance(exc, httpx.TimeoutException):
            return Failure(
                f"{what}: {url} did not answer in time ({type(exc).__name__})", "timeout"
            )
        if isinstance(exc, httpx.ConnectError):
            return Failure(
                f"{what}: cannot connect to {url} ({exc or type(exc).__name__})", "transport"
            )
        return Failure(
            f"{what}: connection to {url} failed ({type(exc).__name__}: {exc})", "transport"
        )

    # -- call ingest ----------------------------------------------------------------------

    def on_ingest(self, url: str, count: int, status: int | None, detail: str) -> IngestOutcome:
        """Classify the answer to a ``POST /calls`` or ``/scores`` of ``count`` records.

        ``status`` is ``None`` when the request failed in transport (``detail`` says how).
        """
        if status in (200, 201, 202, 204):
            return "sent"
        if status is None or status in (401, 403, 408, 429) or status >= 500:
            self._log_limited(
                logging.WARNING,
                f"retry:{url}",
                f"sending {count} records to {url} failed ({status or detail}); retrying",
            )
            return "retry"
        self._log_limited(
            logging.ERROR,
            f"drop:{url}",
            f"{url} rejected {count} records ({status} {detail[:300]}); dropping them",
        )
        return "drop"

    def _log_limited(self, level: int, key: str, message: str) -> None:
        """Log at most once a minute per ``key``: a failing sender fails once per batch."""
        now = time.monotonic()
        if now - self._logged.get(key, float("-inf")) >= 60.0:
            self._logged[key] = now
            log.log(level, "promptstage: %s", message)

    # -- reporting ------------------------------------------------------------------------

    def unavailable_reason(self) -> str:
        """Why nothing can be served (for ``PromptUnavailableError``)."""
        if self.last_error:
            return self.last_error
        return (
            f"no snapshot received from {self.opts.base_url} within "
            f"init_timeout={self.opts.init_timeout:g} s (the server is not answering)"
        )

    def status(self, dropped: int, pending: int) -> Status:
        """The current :class:`Status`."""
        state = self.state
        if state is None:
            sync_state: Any = "offline" if self.init_done else "initializing"
        else:
            sync_state = "connected" if self.connected else "stale"
        at = self.last_sync_at
        return Status(
            state=sync_state,
            last_seq=state.seq if state is not None else None,
            last_error=self.last_error,
            last_sync_at=datetime.fromtimestamp(at, UTC) if at is not None else None,
            dropped_calls=dropped,
            source=state.source if state is not None else None,  # type: ignore[arg-type]
            mode=self.mode,
            pending_calls=pending,
            cache_warning=self.cache_warning or self.opts.cache_problem,
        )


def _json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_message(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return str(data["error"].get("message") or "")[:300]
    return ""


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
