"""Call records and scores: built on the caller's thread, queued, serialized by the sender.

The caller's thread does the least possible (an id, two clock reads, a tuple, a deque append:
a few microseconds). Hashing the unit key, formatting timestamps and JSON encoding happen on
the background sender, which drains the queue in batches (:class:`Outbox`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol

from promptstage.errors import InvalidInputError

from .options import Redactor
from .prompt import ResolvedPrompt

__all__ = ["CALL", "SCORE", "SCORE_SOURCES", "Call", "Outbox", "Record", "Recorder"]

log = logging.getLogger("promptstage")

CALL: Final = "call"
SCORE: Final = "score"
SCORE_SOURCES: Final = ("user", "evaluator", "heuristic", "system")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}")

Record = tuple[Any, ...]
"""``(CALL, id, at, prompt, context, variables, output, model, latency_ms, tokens_in,
tokens_out, cost, error, index, tools)`` or ``(SCORE, call_id, name, value, source, at)``."""


class Outbox:
    """A bounded queue that drops the oldest record when full, and counts what it drops.

    Callers only append; the one sender takes batches and settles each one when the server
    has answered, giving back what failed to be retried first (still within the bound). A
    record taken and not yet settled is in flight: still :attr:`pending`, since the server
    has not acknowledged it.
    """

    __slots__ = ("_batch", "_in_flight", "_lock", "_max", "_q", "_retry", "_wake", "dropped")

    def __init__(self, maxlen: int, batch_size: int, wake: Callable[[], None]) -> None:
        self._q: deque[Record] = deque(maxlen=maxlen)
        self._max = maxlen
        self._batch = batch_size
        self._retry: list[Record] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        self._wake = wake
        self.dropped = 0

    def put(self, record: Record) -> None:
        """Append a record (never blocks); the oldest is dropped and counted if full.

        The bound covers a batch given back for retry too: its records are the oldest, so
        they are dropped first.
        """
        q = self._q
        size = len(q)
        if size + len(self._retry) >= self._max:
            self._drop_oldest()
        q.append(record)
        if size + 1 == self._batch:
            self._wake()

    def _drop_oldest(self) -> None:
        """Make room for one record (the overflow path, under the lock)."""
        with self._lock:
            while len(self._q) + len(self._retry) >= self._max:
                if self._retry:
                    del self._retry[0]
                else:
                    try:
                        self._q.popleft()
                    except IndexError:  # the sender took everything meanwhile
                        break
                self.dropped += 1

    def count_dropped(self, n: int) -> None:
        """Count ``n`` records lost (overflow, or rejected by the server)."""
        with self._lock:
            self.dropped += n

    def take(self, n: int) -> list[Record]:
        """Up to ``n`` records: those given back first, then the oldest queued."""
        with self._lock:
            out, self._retry = self._retry[:n], self._retry[n:]
            q = self._q
            while len(out) < n:
                try:
                    out.append(q.popleft())
                except IndexError:
                    break
            self._in_flight += len(out)
        return out

    def settle(self, taken: int, failed: list[Record]) -> None:
        """The sender is done with ``taken`` records: ``failed`` ones go back to be retried
        first, and the oldest beyond the bound are dropped."""
        with self._lock:
            self._in_flight -= taken
            if not failed:
                return
            self._retry = failed + self._retry
            excess = len(self._retry) + len(self._q) - self._max
            if excess > 0:
                del self._retry[:excess]
                self.dropped += excess

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by the server: queued, or sent and unanswered."""
        return len(self._q) + len(self._retry) + self._in_flight

    def __len__(self) -> int:
        return len(self._q) + len(self._retry)


class Tracing(Protocol):
    """What a call needs of its tracing (``otel.CallTracing``, which imports OpenTelemetry and
    is loaded only when tracing is on)."""

    def start(self, call: Call) -> Any: ...

    def enter(self, span: Any) -> object | None: ...

    def end(
        self, call: Call, span: Any, token: object | None, exc: BaseException | None
    ) -> None: ...

    def failed(self, what: str) -> None: ...


class Recorder:
    """Turns finished calls and scores into records in the outbox."""

    __slots__ = ("outbox", "redact", "tracing")

    def __init__(
        self, outbox: Outbox, redact: Redactor | None, tracing: Tracing | None = None
    ) -> None:
        self.outbox = outbox
        self.redact = redact
        self.tracing = tracing  # None: OpenTelemetry off, the one check on the hot path

    def call(self, c: Call, latency_ms: float) -> None:
        """Queue a finished call (the redactor runs here, on the caller's thread)."""
        prompt = c.prompt
        context, variables, output = prompt.context, c.variables, c.output
        if self.redact is not None:
            context = self._redacted("context", context)
            variables = self._redacted("variables", variables)
            output = self._redacted("output", output)
        self.outbox.put(
            (
                CALL,
                c.id,
                c.at,
                prompt,
                context,
                variables,
                output,
                c.model,
                latency_ms,
                c.tokens_in,
                c.tokens_out,
                c.cost,
                c.error,
                c.index,
                c.tools,
            )
        )

    def _redacted(self, field: str, value: Any) -> Any:
        """``redact(field, value)``; a failing redactor drops the value (never the caller)."""
        if value is None or self.redact is None:
            return value
        try:
            return self.redact(field, value)
        except Exception:
            log.exception("promptstage: redact() failed on %s; recording it as null", field)
            return None

    def score(self, call_id: str, name: str, value: float, source: str) -> None:
        """Validate and queue a score."""
        if not isinstance(call_id, str) or not call_id:
            raise InvalidInputError("call_id must be the id of a call (Call.id)", field="call_id")
        if not isinstance(name, str) or not _METRIC.fullmatch(name):
            raise InvalidInputError(
                f"score name {name!r} must be a metric name of letters, digits, '.', '_' or '-' "
                "starting with a letter, e.g. 'csat' or 'eval.groundedness'",
                field="name",
            )
        if source not in SCORE_SOURCES:
            raise InvalidInputError(
                f"score source {source!r} must be one of {list(SCORE_SOURCES)}", field="source"
            )
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInputError(f"score {name!r} must be a finite number", field="value")
        self.outbox.put((SCORE, call_id, name, value, source, time.time()))


def _uuid4_hex() -> str:
    """A random (version 4) UUID as 32 hex digits, without building a ``uuid.UUID``."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return b.hex()


class Call:
    """One use of a resolved prompt, recorded once: when its ``with`` block ends, or at
    :meth:`finish` when used without ``with``.

    Latency runs from ``with`` entry (or creation) to :meth:`finish` (or the block's end when
    ``finish`` is not called). An exception leaving the block is recorded as the call's
    ``error`` (``"Type: message"``) and propagates unchanged.

    Attributes:
        id: The call id (uuid4 hex): pass it to ``Client.score``.
        prompt: The resolved prompt used.
    """

    __slots__ = (
        "_done",
        "_in_block",
        "_recorder",
        "_span",
        "_t0",
        "_t1",
        "_token",
        "at",
        "cost",
        "error",
        "id",
        "index",
        "model",
        "output",
        "prompt",
        "tokens_in",
        "tokens_out",
        "tools",
        "variables",
    )

    def __init__(
        self, recorder: Recorder, prompt: ResolvedPrompt, variables: Mapping[str, Any] | None
    ) -> None:
        self.id = _uuid4_hex()
        self.prompt = prompt
        self.variables = variables
        self.at = time.time()
        self._t0 = time.perf_counter()
        self._t1: float | None = None
        self._recorder = recorder
        self._done = False
        self._in_block = False
        self.output: Any = None
        self.tokens_in: int | None = None
        self.tokens_out: int | None = None
        self.cost: float | None = None
        self.model: str | None = None
        self.error: str | None = None
        self._token: object | None = None
        self._span: Any = None
        tracing = recorder.tracing
        if tracing is not None:
            try:
                self._span = tracing.start(self)
            except Exception:  # tracing must never break the caller's code
                tracing.failed("could not start the OpenTelemetry span of a call")
        self.index: str | None = None
        self.tools: tuple[str, ...] | None = None

    def finish(
        self,
        output: Any = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost: float | None = None,
        model: str | None = None,
        *,
        index: str | None = None,
        tools: Sequence[str] | None = None,
    ) -> None:
        """Report the outcome of the LLM call.

        Args:
            output: The model's reply (any JSON-able value; recorded unless redacted).
            tokens_in: Prompt tokens.
            tokens_out: Completion tokens.
            cost: Cost of the call, in your currency unit.
            model: The model that answered, as reported by the provider (OpenAI's
                ``response.model``): the server compares it with the version's pinned model.
            index: The retrieval index the call queried, ``NAME@VERSION`` (e.g. ``kb@8``).
            tools: The names of the tools the call offered the model.

        The server counts a ``model``, ``index`` or ``tools`` that differs from what the
        version pinned as drift (docs/dependencies.md).
        """
        self._t1 = time.perf_counter()
        self.output = output
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out
        self.cost = cost
        self.model = model
        self.index = index
        self.tools = tuple(str(t) for t in tools) if tools is not None else None
        if not self._in_block:
            self._submit()

    def _submit(self, exc: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        end = self._t1 if self._t1 is not None else time.perf_counter()
        try:
            self._recorder.call(self, (end - self._t0) * 1000.0)
        except Exception:  # recording must never break the caller's code
            log.exception("promptstage: could not record call %s", self.id)
        if self._span is not None:
            self._end_span(exc)

    def _end_span(self, exc: BaseException | None) -> None:
        tracing = self._recorder.tracing
        try:
            if tracing is not None:
                tracing.end(self, self._span, self._token, exc)
        except Exception:  # tracing must never break the caller's code
            if tracing is not None:
                tracing.failed("could not end the OpenTelemetry span of a call")
        self._span = self._token = None

    def __enter__(self) -> Call:
        self._in_block = True
        if self._span is not None:
            tracing = self._recorder.tracing
            try:
                if tracing is not None:
                    self._token = tracing.enter(self._span)
            except Exception:  # tracing must never break the caller's code
                if tracing is not None:
                    tracing.failed("could not make the call's span current")
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._in_block = False
        if exc_type is not None:
            self.error = f"{exc_type.__name__}: {exc}"[:4000]
        self._submit(exc)

    async def __aenter__(self) -> Call:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
