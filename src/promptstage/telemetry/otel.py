"""The server's OpenTelemetry: a tracer provider exporting OTLP/HTTP, and what uses it.

* :class:`ServiceTracer`: the service's tracing seam (``promptstage.change``,
  ``promptstage.promote``, ``promptstage.label.move``, ``promptstage.controller.look``).
* :class:`RequestSpans`: one ``SERVER`` span per HTTP request, named ``METHOD /route/{param}``,
  continuing the caller's trace (W3C ``traceparent``), with ``promptstage.project``,
  ``.prompt``, ``.label`` and ``.release`` from the path. Headers, query strings and bodies
  are never recorded.
* :meth:`ServiceTracer.statement`: one ``CLIENT`` span per SQL statement (the parameterised
  text, never the values), only inside a recorded span: the background pollers' statements
  outside a request or a controller look would be noise.

The provider is the server's own, never the global one, and is shut down (flushing what is
queued) when the app stops.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptstage.api.paths import route_template
from promptstage.service.tracing import Attribute
from promptstage.settings import Settings

__all__ = ["RequestSpans", "ServiceTracer", "Telemetry"]

_SCOPE: Final = "promptstage.server"
_MAX_QUERY: Final = 2000  # characters of SQL text kept on a statement span
_MAX_PARAM: Final = 200  # characters of a path parameter kept on a request span
_MAX_PATH: Final = 2000  # characters of the URL path kept on a request span
# Path parameters of our routes -> the attribute that carries them.
_PATH_ATTRIBUTES: Final = {
    "project": "promptstage.project",
    "name": "promptstage.prompt",
    "label": "promptstage.label",
    "release_id": "promptstage.release",
}


class ServiceTracer:
    """The service's :class:`~promptstage.service.tracing.Tracer` over an OpenTelemetry tracer."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def span(
        self, name: str, attributes: Mapping[str, Attribute]
    ) -> AbstractContextManager[object]:
        """A span current for the block; an exception leaving it marks it failed."""
        return self._tracer.start_as_current_span(name, attributes=attributes)

    def statement(self, statement: str, dialect: str) -> AbstractContextManager[object]:
        """The span of one SQL statement, inside a recorded span only (not made current)."""
        if not trace.get_current_span().is_recording():
            return nullcontext()
        text = statement.strip()
        operation = text.split(None, 1)[0].upper() if text else "SQL"
        return self._leaf(
            operation,
            {
                "db.system.name": dialect,
                "db.operation.name": operation,
                "db.query.text": text[:_MAX_QUERY],
            },
        )

    @contextmanager
    def _leaf(self, name: str, attributes: Mapping[str, Attribute]) -> Iterator[object]:
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))
            span.set_attribute("error.type", type(exc).__name__)
            raise
        finally:
            span.end()


class RequestSpans:
    """Pure ASGI middleware: a ``SERVER`` span around each HTTP request."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        attributes: dict[str, Attribute] = {
            "http.request.method": method,
            "url.path": scope["path"][:_MAX_PATH],
            "url.scheme": scope.get("scheme", "http"),
        }
        with self.tracer.start_as_current_span(
            method,
            context=propagate.extract(carrier),
            kind=SpanKind.SERVER,
            attributes=attributes,
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                        span.set_attribute("error.type", str(status))
                await send(message)

            try:
                await self.app(scope, receive, send_with_status)
            finally:
                _name_after_route(span, scope, method)


def _name_after_route(span: trace.Span, scope: Scope, method: str) -> None:
    """Name the span ``METHOD /route/{template}`` and copy the path parameters we know."""
    route = route_template(scope)
    if route is not None:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    params = scope.get("path_params") or {}
    for key, attribute in _PATH_ATTRIBUTES.items():
        value = params.get(key)
        if isinstance(value, str):
            span.set_attribute(attribute, value[:_MAX_PARAM])


class Telemetry:
    """The server's tracer provider and the pieces ``create_app`` plugs in."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = ServiceTracer(provider.get_tracer(_SCOPE))

    @classmethod
    def start(
        cls,
        settings: Settings,
        environ: Mapping[str, str],
        *,
        version: str,
        exporter: SpanExporter | None = None,
    ) -> Telemetry:
        """A provider exporting in batches to the configured endpoint (or ``exporter``)."""
        attributes: dict[str, str] = {SERVICE_VERSION: version}
        if not environ.get("OTEL_SERVICE_NAME", "").strip():
            attributes[SERVICE_NAME] = settings.otel_service_name
        provider = TracerProvider(resource=Resource.create(attributes))
        if exporter is None:
            endpoint = settings.otel_exporter_otlp_endpoint
            exporter = (
                OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
                if endpoint
                else OTLPSpanExporter()  # reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT itself
            )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def install(self, app: Starlette) -> None:
        """Add the request spans to ``app`` (call last: outermost, around every middleware)."""
        app.add_middleware(RequestSpans, tracer=self.provider.get_tracer(_SCOPE))

    def shutdown(self) -> None:
        """Export what is queued and stop (bounded by the exporter's timeout)."""
        self.provider.shutdown()
