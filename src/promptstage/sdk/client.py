"""The synchronous client: two daemon threads around one ``httpx.Client``.

* ``promptstage-sync`` fetches ``/snapshot`` (conditional on the ETag), then reads ``/events``
  until it ends, fails, or asks for a refetch; then waits (backoff, or ``poll_interval`` in
  polling mode) and starts over. Every answer goes through :class:`~.core.SyncCore`.
* ``promptstage-send`` drains the call queue in batches every ``flush_interval`` (or as soon as
  a batch is full), retrying failed sends with backoff.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal

import httpx

from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES

from .base import ClientBase
from .cache_dir import DEFAULT_CACHE, DefaultCache
from .calls import CALL, Record
from .core import Action, Failure
from .options import DEFAULT_TIMEOUT, Options, Redactor
from .status import Backoff
from .wire import encode

__all__ = ["Client"]

log = logging.getLogger("promptstage")


class Client(ClientBase):
    """Resolve prompt labels from memory, kept current in the background; record calls.

    The constructor loads the last-known-good file or bootstrap (if any, without network),
    starts the background threads, and returns once the first snapshot is loaded, or at once if
    something is already held, or after ``init_timeout`` seconds at most.

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
        self._ready = threading.Event()
        self._closed = False
        self._stream_resp: httpx.Response | None = None
        self._close_deadline = float("inf")
        super().__init__(options)
        self._transport = transport
        # Built by the sync thread: creating an httpx client loads TLS certificates (~40 ms),
        # which must not delay a cold start from the last-known-good file.
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()  # close() never misses a client being built
        self._init_deadline = time.monotonic() + options.init_timeout
        self._syncer = threading.Thread(
            target=self._sync_main, name="promptstage-sync", daemon=True
        )
        self._sender = threading.Thread(
            target=self._send_main, name="promptstage-send", daemon=True
        )
        # Writes the last-known-good file, so the thread reading events never waits on it
        # (none when the file is off: nothing would wake it).
        self._lkg_wake = threading.Event()
        self._lkg_lock = threading.Lock()  # one write at a time, the newest state last
        self._lkg_writer = (
            threading.Thread(target=self._lkg_main, name="promptstage-lkg", daemon=True)
            if options.cache_file is not None
            else None
        )
        self._syncer.start()
        self._sender.start()
        if self._lkg_writer is not None:
            self._lkg_writer.start()
        atexit.register(self.close)
        if self._core.state is None:
            self._ready.wait(options.init_timeout)

    def _wake_sender(self) -> None:
        self._wake.set()

    # -- sync loop ------------------------------------------------------------------------

    def _sync_main(self) -> None:
        opts, core, stop = self._opts, self._core, self._stop
        backoff = Backoff(opts.backoff_initial, opts.backoff_max)
        quick_refetch = True
        while not stop.is_set():
            try:
                http = self._client()
                if http is None:
                    break  # closing
                self._fetch_snapshot(http)
            except Failure as failure:
                core.failed(failure)
                core.init_done = True
                if failure.slow:
                    self._ready.set()
                delay = opts.auth_retry_interval if failure.slow else backoff.next()
                stop.wait(max(delay, failure.retry_after or 0.0))
                continue
            except Exception:  # a bug must not end the loop: log it and retry later
                if stop.is_set():
                    break  # close() closed the HTTP client under us
                log.exception("promptstage: unexpected error in the sync loop")
                stop.wait(backoff.next())
                continue
            core.init_done = True
            self._ready.set()
            self._write_lkg(force=True)
            if not opts.stream:
                backoff.reset()
                stop.wait(opts.poll_interval)
                continue
            started = time.monotonic()
            outcome = self._follow_stream(http)
            self._write_lkg(force=True)
            if time.monotonic() - started >= opts.backoff_reset_after:
                backoff.reset()
                quick_refetch = True
            if outcome == "refetch" and quick_refetch:
                quick_refetch = False
                continue
            stop.wait(core.reconnect_delay(min(backoff.next(), opts.poll_interval)))
        self._write_lkg(force=True, wait=True)  # closing: the final state, written now

    def _client(self) -> httpx.Client | None:
        """The HTTP client, built on first use by the sync thread; ``None`` once closing."""
        with self._http_lock:
            if self._http is None and not self._closed:
                self._http = httpx.Client(
                    transport=self._transport,
                    headers=self._opts.headers(),
                    timeout=self._opts.timeouts,
                )
            return self._http

    def _fetch_snapshot(self, http: httpx.Client) -> None:
        core, opts = self._core, self._opts
        budget = self._init_deadline - time.monotonic()
        timeout = (
            opts.bounded_timeout(budget) if core.state is None and budget > 0 else opts.timeouts
        )
        try:
            resp = http.get(core.snapshot_url, headers=core.snapshot_headers(), timeout=timeout)
        except httpx.HTTPError as exc:
            raise core.failure_for_exception(exc, "GET /snapshot") from None
        core.on_snapshot(resp.status_code, resp.headers, resp.content)

    def _follow_stream(
        self, http: httpx.Client
    ) -> Literal["refetch", "ended", "failed", "stopped"]:
        core = self._core
        try:
            with http.stream(
                "GET",
                core.events_url,
                headers=core.events_headers(),
                timeout=self._opts.stream_timeout(),
            ) as resp:
                if resp.status_code != 200:
                    core.on_stream_open(resp.status_code, resp.headers, resp.read())
                core.on_stream_open(200, resp.headers)
                self._stream_resp = resp
                for line in resp.iter_lines():
                    if self._stop.is_set():
                        return "stopped"
                    if core.on_line(line) is Action.REFETCH:
                        return "refetch"
                    self._write_lkg()
        except Failure as failure:
            core.failed(failure)
            core.mode = "poll"
            return "failed"
        except httpx.HTTPError as exc:
            if self._stop.is_set():
                return "stopped"
            core.failed(core.failure_for_exception(exc, "GET /events"))
            return "failed"
        except Exception:
            log.exception("promptstage: unexpected error reading the event stream")
            return "failed"
        finally:
            self._stream_resp = None
        core.on_stream_end()
        return "ended"

    def _write_lkg(self, force: bool = False, wait: bool = False) -> None:
        """Have the file written when it is due: by the writer thread, or now with ``wait``."""
        now = time.monotonic()
        if not self._core.lkg_due(now, force):
            return
        if wait:
            with self._lkg_lock:
                self._core.write_lkg(now)
        else:
            self._lkg_wake.set()

    def _lkg_main(self) -> None:
        while True:
            self._lkg_wake.wait()
            self._lkg_wake.clear()
            if self._stop.is_set():
                return  # closing: the sync thread writes the final state itself
            try:
                with self._lkg_lock:
                    self._core.write_lkg(time.monotonic())
            except Exception:  # a bug must not end the writer: log it, write when next due
                log.exception("promptstage: unexpected error writing the last-known-good file")

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
        http = self._http
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
        """Flush queued records (bounded by ``timeout``, default ``close_timeout``), stop the
        threads, write the last-known-good file and release connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        budget = self._opts.close_timeout if timeout is None else timeout
        self._close_deadline = time.monotonic() + budget
        self._stop.set()
        self._wake.set()
        self._lkg_wake.set()
        self._interrupt_stream()
        for thread in (self._sender, self._syncer, self._lkg_writer):
            if thread is not None:
                thread.join(max(0.0, self._close_deadline - time.monotonic()) + 0.2)
        with self._http_lock:
            if self._http is not None:
                self._http.close()
        self._core.connected = False

    def _interrupt_stream(self) -> None:
        """Wake a thread blocked reading the stream (``shutdown`` unblocks ``recv``)."""
        resp = self._stream_resp
        stream = resp.extensions.get("network_stream") if resp is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
