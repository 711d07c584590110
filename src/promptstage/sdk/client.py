"""The synchronous client: a :class:`~.feed.Feed` keeps the state current (its sync and
last-known-good threads, shared with the process's other clients of the same project), and one
daemon thread of its own sends the calls it records.

* ``promptstage-send`` drains the call queue in batches every ``flush_interval`` (or as soon as
  a batch is full), retrying failed sends with backoff, on the feed's ``httpx.Client``.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES
from promptstage.errors import ConfigurationError

from .base import ClientBase
from .cache_dir import DEFAULT_CACHE, DefaultCache
from .calls import CALL, Record
from .feed import Feed
from .options import DEFAULT_TIMEOUT, Options, Redactor
from .status import Backoff
from .wire import encode

__all__ = ["Client"]

log = logging.getLogger("promptstage")


class Client(ClientBase):
    """Resolve prompt labels from memory, kept current in the background; record calls.

    The constructor joins the process's feed of this project (``share``), or starts it: loads
    the last-known-good file or bootstrap (if any, without network) and starts its background
    threads. It returns once the first snapshot is loaded, or at once if something is already
    held, or after ``init_timeout`` seconds at most.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8700``.
        project: The project to serve.
        api_key: An API key of the project (``runtime`` role is enough).
        init_timeout: Longest the constructor waits for the first snapshot.
        stream: Follow ``/events`` (changes arrive in milliseconds); False polls only.
        poll_interval: Seconds between ETag polls when not streaming.
        cache_path: Last-known-good file: read at start, rewritten after changes. By
            default a per-project file under ``$PROMPTSTAGE_CACHE_DIR`` or the user's cache
            directory; ``None`` turns it off.
        bootstrap: A snapshot (dict, or path to a JSON file) used when no cache is valid.
        transport: An ``httpx`` transport (tests).
        redact: ``redact(field, value) -> value`` applied to ``variables``, ``output`` and
            ``context`` before a call record is queued.
        queue_size: Most records queued; beyond it the oldest are dropped and counted.
        batch_size: Most records per ``POST``.
        flush_interval: Seconds between sends.
        timeout: HTTP timeouts for snapshot and ingest requests.
        stream_read_timeout: Silence after which the stream is considered dead.
        backoff_initial: First reconnect delay (doubles up to ``backoff_max``, with jitter).
        backoff_max: Longest reconnect delay.
        backoff_reset_after: A stream healthy this long resets the backoff.
        auth_retry_interval: Retry delay after 401/403/404 (retrying fast cannot help).
        close_timeout: Longest :meth:`close` waits to flush.
        max_rendered_bytes: Longest text ``render()`` builds, in UTF-8 bytes; match the
            server's ``PROMPTSTAGE_MAX_RENDERED_BYTES`` if it was raised (default 1 MiB).
        pins: Break-glass: ``{"prompt:label": version}`` or ``"prompt:label=N,..."``, served
            with ``arm="pinned"`` whatever the label points at; ``None`` reads
            ``$PROMPTSTAGE_PIN``. Reported by :meth:`status`.
        otel: OpenTelemetry for :meth:`call`: ``"span"`` records each call as a span,
            ``"current"`` adds the attributes to the caller's current span instead, ``"off"``
            does neither; ``"auto"`` (the default, or ``$PROMPTSTAGE_OTEL``) is ``"span"``
            when the application has imported OpenTelemetry before creating the client
            (configured its tracing), ``"off"`` otherwise. See ``docs/otel.md``.
        otel_compat: Extra attribute sets that link the span to the prompt in other tools:
            ``"langfuse"``, ``"openinference"`` (Phoenix).
        otel_tracer_provider: The OpenTelemetry ``TracerProvider`` spans go to; ``None``
            uses the global one.
        share: Read one state, snapshot fetch and event stream with this process's other
            clients of the same server, project, API key and sync settings (the default);
            ``False`` gives this client its own. Pins, redaction and the call queue are
            always the client's own.
    """

    def __init__(
        self,
        base_url: str,
        project: str,
        api_key: str | None = None,
        *,
        init_timeout: float = 2.0,
        stream: bool = True,
        poll_interval: float = 15.0,
        cache_path: str | os.PathLike[str] | DefaultCache | None = DEFAULT_CACHE,
        bootstrap: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        redact: Redactor | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        stream_read_timeout: float = 45.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        backoff_reset_after: float = 60.0,
        auth_retry_interval: float = 300.0,
        close_timeout: float = 5.0,
        max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
        pins: Mapping[str, int] | str | None = None,
        otel: str | None = None,
        otel_compat: Iterable[str] = (),
        otel_tracer_provider: Any = None,
        share: bool = True,
    ) -> None:
        options = Options(
            base_url,
            project,
            api_key,
            init_timeout=init_timeout,
            stream=stream,
            poll_interval=poll_interval,
            cache_path=cache_path,
            bootstrap=bootstrap,
            redact=redact,
            queue_size=queue_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
            stream_read_timeout=stream_read_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            backoff_reset_after=backoff_reset_after,
            auth_retry_interval=auth_retry_interval,
            close_timeout=close_timeout,
            max_rendered_bytes=max_rendered_bytes,
            pins=pins,
            otel=otel,
            otel_compat=otel_compat,
            otel_tracer_provider=otel_tracer_provider,
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        self._close_deadline = float("inf")
        if not isinstance(share, bool):
            raise ConfigurationError(f"share must be True or False, not {share!r}", field="share")
        self._feed = Feed.acquire(options, transport, share)
        try:
            super().__init__(options, self._feed.core)
        except BaseException:
            self._feed.release(time.monotonic())
            raise
        self._sender = threading.Thread(
            target=self._send_main, name="promptstage-send", daemon=True
        )
        self._sender.start()
        atexit.register(self.close)
        if self._core.state is None:
            self._feed.ready.wait(options.init_timeout)

    def _wake_sender(self) -> None:
        self._wake.set()

    # -- sender ---------------------------------------------------------------------------

    def _send_main(self) -> None:
        opts = self._opts
        backoff = Backoff(opts.backoff_initial, opts.backoff_max)
        next_try = 0.0
        while not self._stop.is_set():
            self._wake.wait(opts.flush_interval)
            self._wake.clear()
            if self._stop.is_set() or time.monotonic() < next_try:
                continue
            if self._drain():
                backoff.reset()
                next_try = 0.0
            else:
                next_try = time.monotonic() + backoff.next()
        self._drain(final=True)

    def _drain(self, final: bool = False) -> bool:
        """Send every queued batch; False at the first failure (the batch is kept)."""
        outbox, size = self._outbox, self._opts.batch_size
        while True:
            if final and time.monotonic() >= self._close_deadline:
                return False
            batch: list[Record] = []
            failed: list[Record] = []
            try:
                batch = outbox.take(size)
                if not batch:
                    return True
                failed = self._send(batch, final)
            except Exception:
                # A bug, not the network: retrying would fail forever, so count the loss.
                log.exception("promptstage: unexpected error sending call records")
                outbox.count_dropped(len(batch))
            finally:
                outbox.settle(len(batch), failed)
            if failed:
                return False

    def _send(self, batch: list[Record], final: bool) -> list[Record]:
        """POST one batch; return the records to retry."""
        http = self._feed.http
        if http is None:  # the sync thread has not built the client yet
            return batch
        timeout = self._opts.timeouts
        if final:
            timeout = self._opts.bounded_timeout(self._close_deadline - time.monotonic())
        retry: list[Record] = []
        for chunk in encode(batch, self._opts.project):
            url = self._core.calls_url if chunk.kind == CALL else self._core.scores_url
            try:
                resp = http.post(
                    url,
                    content=chunk.body,
                    headers=chunk.headers(),
                    timeout=timeout,
                )
                status, detail = resp.status_code, resp.text
            except httpx.HTTPError as exc:
                status, detail = None, f"{type(exc).__name__}: {exc}"
            outcome = self._core.on_ingest(url, len(chunk.records), status, detail)
            if outcome == "retry":
                retry.extend(chunk.records)
            elif outcome == "drop":
                self._outbox.count_dropped(len(chunk.records))
        return retry

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float = 5.0) -> bool:
        """Send queued records now; True if the queue emptied within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._outbox.pending:
            if time.monotonic() >= deadline or self._stop.is_set():
                return False
            self._wake.set()
            time.sleep(0.005)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Flush queued records (bounded by ``timeout``, default ``close_timeout``) and stop
        the sender; the last client of a feed also stops its threads, writes the
        last-known-good file and releases connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        budget = self._opts.close_timeout if timeout is None else timeout
        self._close_deadline = time.monotonic() + budget
        self._stop.set()
        self._wake.set()
        self._sender.join(budget + 0.2)
        self._core.unsubscribe(self._publish)
        self._feed.release(self._close_deadline)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
