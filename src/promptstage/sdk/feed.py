"""The sync loop of the synchronous client, shared by the clients of one project in a process.

A :class:`Feed` holds one :class:`~.core.SyncCore` (the state ``get`` reads) and keeps it
current with two daemon threads around one ``httpx.Client``:

* ``promptstage-sync`` fetches ``/snapshot`` (conditional on the ETag), then reads ``/events``
  until it ends, fails, or asks for a refetch; then waits (backoff, or ``poll_interval`` in
  polling mode) and starts over. Every answer goes through the core.
* ``promptstage-lkg`` rewrites the last-known-good file when it is due, so the thread reading
  events never waits on the disk.

Every ``Client`` of a process with the same server, project, API key and sync settings (the
fields of :meth:`Options.sync_key`) reads the same feed: one state in memory, one snapshot
fetch, one event stream and one writer of the file, however many clients the application
builds. A client keeps its own pins, call queue and sender. The feed starts with its first
client and stops when the last one closes; ``Client(share=False)`` gets a feed of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Hashable
from typing import ClassVar, Literal

import httpx

from .core import Action, Failure, SyncCore
from .options import Options
from .status import Backoff

__all__ = ["Feed"]

log = logging.getLogger("promptstage")


class Feed:
    """One sync loop and the state it keeps, read by one or more clients."""

    _shared: ClassVar[dict[Hashable, Feed]] = {}  # sync key -> the feed its clients read
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, options: Options, transport: httpx.BaseTransport | None) -> None:
        self.opts = options
        self.core = SyncCore(options)
        self.ready = threading.Event()  # the first snapshot answered (or will not soon)
        self._key: Hashable | None = None
        self._users = 0  # clients reading it (under _registry_lock)
        self._transport = transport
        self._stop = threading.Event()
        self._closed = False
        self._started = False
        self._start_lock = threading.Lock()
        self._stream_resp: httpx.Response | None = None
        # Built by the sync thread: creating an httpx client loads TLS certificates (~40 ms),
        # which must not delay a cold start from the last-known-good file.
        self._http: httpx.Client | None = None
        self._http_lock = threading.Lock()  # close() never misses a client being built
        self._init_deadline = float("inf")
        self.syncer = threading.Thread(target=self._sync_main, name="promptstage-sync", daemon=True)
        self._lkg_wake = threading.Event()
        self._lkg_lock = threading.Lock()  # one write at a time, the newest state last
        # None when the file is off: nothing would wake it.
        self._lkg_writer = (
            threading.Thread(target=self._lkg_main, name="promptstage-lkg", daemon=True)
            if options.cache_file is not None
            else None
        )

    # -- sharing --------------------------------------------------------------------------

    @classmethod
    def acquire(cls, options: Options, transport: httpx.BaseTransport | None, share: bool) -> Feed:
        """The running feed of ``options``' sync key, or a new one; started, with the local
        state (last-known-good file, else ``options.bootstrap``) loaded before it syncs."""
        key = options.sync_key(transport) if share else None
        with cls._registry_lock:
            feed = cls._shared.get(key) if key is not None else None
            if feed is None:
                # Its bootstrap is read once, by _start: the feed does not keep it alive.
                feed = cls(dataclasses.replace(options, bootstrap=None), transport)
                if key is not None:
                    feed._key = key
                    cls._shared[key] = feed
            feed._users += 1
        try:
            feed._start(options)
        except BaseException:
            feed.release(time.monotonic())
            raise
        return feed

    def release(self, deadline: float) -> None:
        """One client stopped reading; the last one stops the feed (by ``deadline``)."""
        cls = type(self)
        with cls._registry_lock:
            self._users -= 1
            if self._users > 0:
                return
            if self._key is not None and cls._shared.get(self._key) is self:
                del cls._shared[self._key]
        self._close(deadline)

    @classmethod
    def _forget_all(cls) -> None:
        """In a forked child: the parent's feeds have no threads here; new clients start over."""
        cls._shared = {}
        cls._registry_lock = threading.Lock()

    def _start(self, options: Options) -> None:
        with self._start_lock:
            if not self._started:
                self._started = True
                self._init_deadline = time.monotonic() + options.init_timeout
                self.core.adopt_local(options)
                self.syncer.start()
                if self._lkg_writer is not None:
                    self._lkg_writer.start()
                return
        if self.core.state is None and options.bootstrap is not None:
            # A later client brought a bootstrap while the feed holds nothing yet.
            self.core.adopt_local(options)

    @property
    def http(self) -> httpx.Client | None:
        """The HTTP client once the sync thread built it (the senders post on it too)."""
        return self._http

    # -- sync loop ------------------------------------------------------------------------

    def _sync_main(self) -> None:
        opts, core, stop = self.opts, self.core, self._stop
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
                    self.ready.set()
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
            self.ready.set()
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
                    headers=self.opts.headers(),
                    timeout=self.opts.timeouts,
                )
            return self._http

    def _fetch_snapshot(self, http: httpx.Client) -> None:
        core, opts = self.core, self.opts
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
        core = self.core
        try:
            with http.stream(
                "GET",
                core.events_url,
                headers=core.events_headers(),
                timeout=self.opts.stream_timeout(),
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

    # -- last-known-good file -------------------------------------------------------------

    def _write_lkg(self, force: bool = False, wait: bool = False) -> None:
        """Have the file written when it is due: by the writer thread, or now with ``wait``."""
        now = time.monotonic()
        if not self.core.lkg_due(now, force):
            return
        if wait:
            with self._lkg_lock:
                self.core.write_lkg(now)
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
                    self.core.write_lkg(time.monotonic())
            except Exception:  # a bug must not end the writer: log it, write when next due
                log.exception("promptstage: unexpected error writing the last-known-good file")

    # -- lifecycle ------------------------------------------------------------------------

    def _close(self, deadline: float) -> None:
        """Stop the threads (the sync thread writes the file last) and release connections."""
        self._closed = True
        self._stop.set()
        self._lkg_wake.set()
        self._interrupt_stream()
        for thread in (self.syncer, self._lkg_writer):
            if thread is not None and thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
        with self._http_lock:
            if self._http is not None:
                self._http.close()
        self.core.connected = False

    def _interrupt_stream(self) -> None:
        """Wake a thread blocked reading the stream (``shutdown`` unblocks ``recv``)."""
        resp = self._stream_resp
        stream = resp.extensions.get("network_stream") if resp is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=Feed._forget_all)
