"""The asyncio client: the same rules as :class:`~.client.Client`, on tasks of the running loop.

``get``, ``call`` and ``score`` are the same (synchronous, in-memory) methods as the sync
client's; only starting and stopping are coroutines::

    async with AsyncClient("http://127.0.0.1:8700", project="clinic", api_key=key) as ps:
        p = ps.get("booking.system", unit=user_id)
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import time
from collections.abc import Coroutine, Iterable, Mapping
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

__all__ = ["AsyncClient"]

log = logging.getLogger("promptstage")

_INLINE_BYTES = 256 * 1024  # larger snapshots are verified in a worker thread


class AsyncClient(ClientBase):
    """Asyncio twin of :class:`~promptstage.Client` (same arguments, same behaviour).

    Start it with ``async with AsyncClient(...) as ps`` or ``ps = await
    AsyncClient.create(...)``; stop it with ``await ps.aclose()``. Until started it serves
    only what the last-known-good file or bootstrap holds. ``transport`` is an
    ``httpx.AsyncBaseTransport``.
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
        transport: httpx.AsyncBaseTransport | None = None,
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
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._http: httpx.AsyncClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._close_deadline = float("inf")
        self._init_deadline = 0.0
        self._lkg_write: asyncio.Future[None] | None = None
        super().__init__(options)

    @classmethod
    async def create(cls, *args: Any, **kwargs: Any) -> AsyncClient:
        """Construct and :meth:`start` a client (arguments as for the constructor)."""
        client = cls(*args, **kwargs)
        await client.start()
        return client

    async def start(self) -> None:
        """Start the background tasks; return once the first snapshot is loaded, at once if
        something is held, or after ``init_timeout`` at most. Idempotent."""
        if self._tasks or self._closed:
            return
        opts = self._opts
        self._loop = asyncio.get_running_loop()
        self._init_deadline = time.monotonic() + opts.init_timeout
        self._tasks = [
            self._spawn(self._sync_main(), "promptstage-sync"),
            self._spawn(self._send_main(), "promptstage-send"),
        ]
        atexit.register(self._at_exit)
        if self._core.state is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), opts.init_timeout)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        assert self._loop is not None
        return self._loop.create_task(coro, name=name)

    def _wake_sender(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(self._wake.set)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- sync loop ------------------------------------------------------------------------

    async def _sync_main(self) -> None:
        opts, core, stop = self._opts, self._core, self._stop
        backoff = Backoff(opts.backoff_initial, opts.backoff_max)
        quick_refetch = True
        while not stop.is_set():
            try:
                if self._http is None:  # built off the loop: it loads TLS certificates
                    self._http = await asyncio.to_thread(self._make_http)
                await self._fetch_snapshot()
            except Failure as failure:
                core.failed(failure)
                core.init_done = True
                if failure.slow:
                    self._ready.set()
                delay = opts.auth_retry_interval if failure.slow else backoff.next()
                await self._sleep(max(delay, failure.retry_after or 0.0))
                continue
            except Exception:  # a bug must not end the loop: log it and retry later
                log.exception("promptstage: unexpected error in the sync loop")
                await self._sleep(backoff.next())
                continue
            core.init_done = True
            self._ready.set()
            await self._write_lkg(force=True)
            if not opts.stream:
                backoff.reset()
                await self._sleep(opts.poll_interval)
                continue
            started = time.monotonic()
            outcome = await self._follow_stream()
            await self._write_lkg(force=True)
            if time.monotonic() - started >= opts.backoff_reset_after:
                backoff.reset()
                quick_refetch = True
            if outcome == "refetch" and quick_refetch:
                quick_refetch = False
                continue
            await self._sleep(core.reconnect_delay(min(backoff.next(), opts.poll_interval)))

    def _make_http(self) -> httpx.AsyncClient:
        opts = self._opts
        return httpx.AsyncClient(
            transport=self._transport, headers=opts.headers(), timeout=opts.timeouts
        )

    async def _fetch_snapshot(self) -> None:
        core, opts, http = self._core, self._opts, self._http
        assert http is not None
        budget = self._init_deadline - time.monotonic()
        timeout = (
            opts.bounded_timeout(budget) if core.state is None and budget > 0 else opts.timeouts
        )
        try:
            resp = await http.get(
                core.snapshot_url, headers=core.snapshot_headers(), timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise core.failure_for_exception(exc, "GET /snapshot") from None
        if len(resp.content) > _INLINE_BYTES:
            await asyncio.to_thread(core.on_snapshot, resp.status_code, resp.headers, resp.content)
        else:
            core.on_snapshot(resp.status_code, resp.headers, resp.content)

    async def _follow_stream(self) -> Literal["refetch", "ended", "failed"]:
        core, http = self._core, self._http
        assert http is not None
        try:
            async with http.stream(
                "GET",
                core.events_url,
                headers=core.events_headers(),
                timeout=self._opts.stream_timeout(),
            ) as resp:
                if resp.status_code != 200:
                    core.on_stream_open(resp.status_code, resp.headers, await resp.aread())
                core.on_stream_open(200, resp.headers)
                async for line in resp.aiter_lines():
                    if core.on_line(line) is Action.REFETCH:
                        return "refetch"
                    await self._write_lkg()
        except Failure as failure:
            core.failed(failure)
            core.mode = "poll"
            return "failed"
        except httpx.HTTPError as exc:
            core.failed(core.failure_for_exception(exc, "GET /events"))
            return "failed"
        except Exception:
            log.exception("promptstage: unexpected error reading the event stream")
            return "failed"
        core.on_stream_end()
        return "ended"

    async def _write_lkg(self, force: bool = False, wait: bool = False) -> None:
        """Start writing the file in a worker thread when it is due, without waiting for it
        (the stream goes on reading events meanwhile); one write at a time. ``aclose`` waits
        for a write still running, then writes the final state with ``wait``."""
        running = self._lkg_write
        if running is not None and not running.done():
            if not wait:
                return  # still dirty after it if the state changed: written when next due
            await asyncio.wait({running})  # never cancels it, never raises its error
        now = time.monotonic()
        if self._core.lkg_due(now, force):
            write = asyncio.ensure_future(asyncio.to_thread(self._core.write_lkg, now))
            write.add_done_callback(_report_failed_write)
            self._lkg_write = write
            if wait:
                await asyncio.wait({write})

    # -- sender ---------------------------------------------------------------------------

    async def _send_main(self) -> None:
        opts = self._opts
        backoff = Backoff(opts.backoff_initial, opts.backoff_max)
        next_try = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), opts.flush_interval)
            self._wake.clear()
            if self._stop.is_set() or time.monotonic() < next_try:
                continue
            if await self._drain():
                backoff.reset()
                next_try = 0.0
            else:
                next_try = time.monotonic() + backoff.next()
        await self._drain(final=True)

    async def _drain(self, final: bool = False) -> bool:
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
                failed = await self._send(batch, final)
            except Exception:
                # A bug, not the network: retrying would fail forever, so count the loss.
                log.exception("promptstage: unexpected error sending call records")
                outbox.count_dropped(len(batch))
            finally:
                outbox.settle(len(batch), failed)
            if failed:
                return False

    async def _send(self, batch: list[Record], final: bool) -> list[Record]:
        http = self._http
        if http is None:  # the sync task has not built the client yet
            return batch
        timeout = self._opts.timeouts
        if final:
            timeout = self._opts.bounded_timeout(self._close_deadline - time.monotonic())
        retry: list[Record] = []
        for chunk in encode(batch, self._opts.project):
            url = self._core.calls_url if chunk.kind == CALL else self._core.scores_url
            try:
                resp = await http.post(
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

    async def flush(self, timeout: float = 5.0) -> bool:
        """Send queued records now; True if the queue emptied within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._outbox.pending:
            if time.monotonic() >= deadline or self._stop.is_set() or not self._tasks:
                return False
            self._wake.set()
            await asyncio.sleep(0.005)
        return True

    async def aclose(self, timeout: float | None = None) -> None:
        """Flush (bounded by ``timeout``, default ``close_timeout``), stop the tasks, write the
        last-known-good file and release connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        budget = self._opts.close_timeout if timeout is None else timeout
        self._close_deadline = time.monotonic() + budget
        self._stop.set()
        self._wake.set()
        if self._tasks:
            sync_task, send_task = self._tasks
            sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(send_task, max(0.0, budget) + 0.2)
            with contextlib.suppress(asyncio.CancelledError):
                await sync_task
            await self._write_lkg(force=True, wait=True)  # after any write still running
        if self._http is not None:
            await self._http.aclose()
        self._core.connected = False

    def _at_exit(self) -> None:
        if not self._closed and self._outbox.pending:
            log.warning(
                "promptstage: AsyncClient was not closed; %d queued records are lost "
                "(use 'async with' or 'await client.aclose()')",
                self._outbox.pending,
            )

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _report_failed_write(write: asyncio.Future[None]) -> None:
    """Log a last-known-good write that raised (a bug: expected failures are in the status)."""
    if not write.cancelled() and write.exception() is not None:
        log.error(
            "promptstage: unexpected error writing the last-known-good file",
            exc_info=write.exception(),
        )
