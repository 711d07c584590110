"""What the sync and async clients share: settings, local start, ``get``, ``call``, ``score``."""

from __future__ import annotations

import dataclasses
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from promptstage.errors import ConfigurationError, PromptUnavailableError

from .calls import Call, Outbox, Recorder

if TYPE_CHECKING:
    from .otel import CallTracing
from .core import SyncCore
from .options import Options
from .pins import apply_pins
from .prompt import ResolvedPrompt, _Draft, for_call, from_fallback, rendered_with
from .state import Entry, State
from .status import Status

__all__ = ["ClientBase"]

log = logging.getLogger("promptstage")

_new = object.__new__


def call_tracing(options: Options) -> CallTracing | None:
    """The OpenTelemetry side of ``call()``, or ``None``.

    ``auto`` turns tracing on only when the application has already imported the OpenTelemetry
    API (it configured tracing before creating the client): the SDK then imports nothing new,
    and a client that does not trace never pays the API's import (tens of milliseconds, most
    of the cold-start budget). ``span`` and ``current`` import it.
    """
    mode = options.otel
    if mode == "off" or (mode == "auto" and "opentelemetry.trace" not in sys.modules):
        return None
    try:
        from .otel import CallTracing
    except ImportError as exc:
        if mode == "auto":
            return None
        raise ConfigurationError(
            f"otel={mode!r} needs the OpenTelemetry API ({exc}); install it with "
            "pip install 'promptstage[otel]', or pass otel='off'",
            field="otel",
        ) from None
    assert isinstance(options.otel_compat, frozenset)
    return CallTracing(
        "current" if mode == "current" else "span",
        options.otel_compat,
        options.otel_tracer_provider,
    )


class ClientBase:
    """Settings, the state pointer, and the in-memory operations of both clients."""

    _entries: Mapping[tuple[str, str], Entry]

    def __init__(self, options: Options, core: SyncCore | None = None) -> None:
        """``core``: the sync state machine this client reads (shared with the other clients
        of its feed); ``None`` gives the client its own, loaded from the local sources."""
        # The caller's bootstrap snapshot is read once (by adopt_local), never kept alive by the
        # client: it would double the memory of a large project's state.
        self._opts = opts = dataclasses.replace(options, bootstrap=None)
        self._entries = {}
        self._unmet_pins: tuple[str, ...] = ()
        if core is None:
            core = SyncCore(opts)
            core.adopt_local(options)
        self._core = core
        self._outbox = Outbox(opts.queue_size, opts.batch_size, self._wake_sender)
        self._recorder = Recorder(self._outbox, opts.redact, call_tracing(opts))
        core.subscribe(self._publish)

    def _publish(self, state: State) -> None:
        entries, unmet = apply_pins(state, self._opts.pinned)
        if unmet and unmet != self._unmet_pins:
            for reason in unmet:
                log.warning("promptstage: %s", reason)
        self._unmet_pins = unmet
        self._entries = entries

    def _wake_sender(self) -> None:
        """Tell the sender a full batch is waiting (overridden by each client)."""

    def get(
        self,
        name: str,
        label: str = "prod",
        unit: str | None = None,
        context: Mapping[str, Any] | None = None,
        fallback: Any = None,
    ) -> ResolvedPrompt:
        """Resolve a prompt label for one call, from memory (no I/O, never blocks).

        Args:
            name: The prompt name, e.g. ``booking.system``.
            label: The label, e.g. ``prod``; ``latest`` is the highest version.
            unit: The stickiness key (user id, else conversation id). Without one, an active
                release serves its baseline.
            context: Attributes for release targeting, e.g. ``{"channel": "whatsapp"}``.
            fallback: Served (with ``version=None``, ``arm="fallback"``) only while the client
                holds nothing at all: a template string, a list of messages, or a dict
                ``{"template", "type"?, "variables"?, "config"?}``.

        Returns:
            The resolved prompt.

        Raises:
            NotFoundError: The state held has no such prompt or label.
            IntegrityError: The version the label (or its release) serves failed its digest
                check; the message names it. It is never served.
            PromptUnavailableError: Nothing is held and no ``fallback`` was given; the message
                says why (server unreachable, key rejected, ...).
        """
        try:
            entry = self._entries[name, label]
        except KeyError:
            return self._miss(name, label, unit, context, fallback)
        pick = entry.pick  # a release's precompiled choice (targeting, hash, arm), or None
        base = entry.base if pick is None else pick(unit, context)
        if unit is None and context is None:
            return base
        d: Any = _new(_Draft)  # for_call(base, unit, context), inlined: one allocation
        d._f = base._f
        d.unit = unit
        d.context = context
        d.__class__ = ResolvedPrompt
        return d  # type: ignore[no-any-return]

    def _serve(
        self, entry: Entry, unit: str | None, context: Mapping[str, Any] | None
    ) -> ResolvedPrompt:
        pick = entry.pick
        return for_call(entry.base if pick is None else pick(unit, context), unit, context)

    def _miss(
        self,
        name: str,
        label: str,
        unit: str | None,
        context: Mapping[str, Any] | None,
        fallback: Any,
    ) -> ResolvedPrompt:
        state = self._core.state
        if state is not None:
            entry = state.entry(name, label)  # built, and its versions verified, on first use
            if entry is None:
                raise state.not_found(name, label)
            return self._serve(entry, unit, context)
        if fallback is not None:
            return for_call(
                from_fallback(name, label, fallback, self._core.opts.max_rendered_bytes),
                unit,
                context,
            )
        raise PromptUnavailableError(
            f"cannot serve prompt {name!r} (label {label!r}): nothing is held yet: "
            f"{self._core.unavailable_reason()}. Pass fallback= to serve a default meanwhile, "
            "or configure cache_path= / bootstrap= for cold starts.",
            field="name",
        )

    def call(
        self,
        resolved: ResolvedPrompt,
        *,
        variables: Mapping[str, Any] | None = None,
        record_variables: bool = True,
    ) -> Call:
        """Start recording one use of ``resolved``; use as ``with ps.call(p) as call:``.

        The variables recorded are, by default, the ones ``resolved.render`` was last given in
        this thread or task, so that the call can be replayed against another version
        (``evals replay``). The client's ``redact=`` still sees them before they are queued.

        Args:
            resolved: What :meth:`get` returned.
            variables: The values to record instead of those given to ``render``.
            record_variables: ``False`` records no variables at all.

        Returns:
            The call; report the outcome with ``call.finish(...)``. The record is queued when
            the block ends (or at ``finish`` without ``with``) and sent in the background.
        """
        if not record_variables:
            return Call(self._recorder, resolved, None)
        if variables is None:
            variables = rendered_with(resolved)
        return Call(self._recorder, resolved, variables)

    def score(self, call_id: str, name: str, value: float, source: str = "user") -> None:
        """Attach a metric to a call, e.g. ``ps.score(call.id, "csat", 4)`` (queued, sent later).

        Args:
            call_id: ``Call.id``.
            name: The metric name (``csat``, ``thumbs_down``, ``eval.groundedness``...).
            value: A finite number (booleans count as 0/1).
            source: Who scored: ``user``, ``evaluator``, ``heuristic``...

        Raises:
            InvalidInputError: An argument is malformed.
        """
        self._recorder.score(call_id, name, value, source)

    def status(self) -> Status:
        """The connection state, last sequence, last error and queue counters."""
        status = self._core.status(self._outbox.dropped, self._outbox.pending)
        if not self._opts.pinned:
            return status
        return dataclasses.replace(
            status, pins=dict(self._opts.pinned), unmet_pins=self._unmet_pins
        )

    @property
    def project(self) -> str:
        """The project this client serves."""
        return self._opts.project
