"""OpenTelemetry for ``call()``: a span per call, or attributes on the caller's current span.

Imported only when the client turns tracing on (``otel="span"`` or ``"current"``, or ``"auto"``
once the application has imported OpenTelemetry): otherwise nothing here is loaded and
``call()`` costs what it always did. The client builds one :class:`CallTracing` at
construction; :class:`~.calls.Call` checks ``recorder.tracing is not None`` (a precomputed
flag) and otherwise touches nothing of this module.

Attribute names follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``), plus
``promptstage.*`` for what only promptstage knows, plus, when asked, the names Langfuse
(``langfuse.observation.prompt.name/version``, ``langfuse/_client/attributes.py``) and
OpenInference/Phoenix (``llm.prompt_template.version``) read to link a span to a prompt.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_PYTHON_TRACER_PROVIDER
from opentelemetry.trace import (
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

if TYPE_CHECKING:
    from .calls import Call

__all__ = ["SPAN_NAME", "CallTracing"]

SPAN_NAME: Final = "promptstage.call"
"""The name of the span each ``call()`` records in ``span`` mode."""

_INSTRUMENTATION = "promptstage.sdk"
log = logging.getLogger("promptstage")
_UNKNOWN = object()  # a future opentelemetry-api without the global: ask it every call


class CallTracing:
    """What the client does with OpenTelemetry on each ``call()``.

    Args:
        mode: ``"span"``: each call is a new span (a child of the caller's current span), made
            current inside ``with ps.call(p):`` so that spans of an instrumented LLM client
            nest under it. ``"current"``: no new span; the attributes go on the caller's
            current span if it is recording (for example a span the application opened
            around its LLM call), and nothing happens otherwise.
        compat: Extra attribute sets: ``"langfuse"``, ``"openinference"``.
        tracer_provider: Where spans go; ``None`` uses the global provider. While no global
            provider is set (only the API is installed, nothing configured), ``span`` mode
            starts no span at all rather than a no-op one: the cost is one function call.
    """

    __slots__ = ("_env_provider", "_langfuse", "_logged", "_openinference", "_tracer", "current")

    def __init__(
        self, mode: str, compat: frozenset[str], tracer_provider: TracerProvider | None = None
    ) -> None:
        self.current = mode == "current"
        self._langfuse = "langfuse" in compat
        self._openinference = "openinference" in compat
        self._tracer: Tracer | None = None
        self._logged = False
        self._env_provider = OTEL_PYTHON_TRACER_PROVIDER in os.environ
        if tracer_provider is not None:
            self._tracer = tracer_provider.get_tracer(_INSTRUMENTATION)

    def _live_tracer(self) -> Tracer | None:
        """The tracer, once a real global provider exists (it can be set only once).

        Until then each call costs one module attribute read: ``get_tracer_provider()``
        would also look up ``os.environ`` on every call, a microsecond on the hot path.
        """
        if getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None and not self._env_provider:
            return None  # only the API: no global provider set, none named in the environment
        provider = trace.get_tracer_provider()
        if isinstance(provider, ProxyTracerProvider):
            return None
        tracer = self._tracer = provider.get_tracer(_INSTRUMENTATION)
        return tracer

    def failed(self, what: str) -> None:
        """Log a failure of the tracer (with its traceback) once, then at debug level: a broken
        exporter must neither break the caller nor flood its logs."""
        if self._logged:
            log.debug("promptstage: %s", what, exc_info=True)
            return
        self._logged = True
        log.exception("promptstage: %s (logged once; later failures at debug level)", what)

    def attributes(self, call: Call) -> dict[str, Any]:
        """What is known when the call starts: the prompt, the version, the arm, the model."""
        p = call.prompt
        attrs: dict[str, Any] = {
            "gen_ai.prompt.name": p.name,
            "promptstage.label": p.label,
            "promptstage.arm": p.arm,
            "promptstage.call_id": call.id,
        }
        version = p.version
        if version is not None:
            attrs["gen_ai.prompt.version"] = version
            if self._langfuse:
                attrs["langfuse.observation.prompt.name"] = p.name
                attrs["langfuse.observation.prompt.version"] = version
            if self._openinference:
                attrs["llm.prompt_template.version"] = str(version)
        if p.digest is not None:
            attrs["promptstage.digest"] = p.digest
        if p.release_id is not None:
            attrs["promptstage.release"] = p.release_id
        model = p.config.model
        if model.name:
            attrs["gen_ai.request.model"] = model.name
        if model.provider:
            attrs["gen_ai.provider.name"] = model.provider
        return attrs

    def start(self, call: Call) -> Span | None:
        """The span of a call that starts now: a new one, or the caller's current one."""
        if self.current:  # every attribute goes on at the end, in one (locked) update
            span = trace.get_current_span()
            return span if span.is_recording() else None
        tracer = self._tracer or self._live_tracer()
        if tracer is None:
            return None
        return tracer.start_span(
            SPAN_NAME, kind=SpanKind.INTERNAL, attributes=self.attributes(call)
        )

    def enter(self, span: Span) -> object | None:
        """Make a call's own span current for its ``with`` block (``span`` mode only)."""
        if self.current:
            return None
        return otel_context.attach(trace.set_span_in_context(span))

    def end(self, call: Call, span: Span, token: object | None, exc: BaseException | None) -> None:
        """Add the outcome (tokens, model, error) and end the span the call started."""
        try:
            attrs: dict[str, Any] = self.attributes(call) if self.current else {}
            if call.tokens_in is not None:
                attrs["gen_ai.usage.input_tokens"] = call.tokens_in
            if call.tokens_out is not None:
                attrs["gen_ai.usage.output_tokens"] = call.tokens_out
            if call.model:
                attrs["gen_ai.response.model"] = call.model
            if attrs:
                span.set_attributes(attrs)
            if call.error is not None:
                if exc is not None and not self.current:
                    span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, call.error))
                span.set_attribute("error.type", type(exc).__name__ if exc else "_OTHER")
        finally:
            if token is not None:
                otel_context.detach(token)  # type: ignore[arg-type]
            if not self.current:
                span.end()
