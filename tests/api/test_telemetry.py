"""The server's OpenTelemetry (``promptstage.telemetry``), in process with the real OTel SDK's
in-memory exporter: request spans, SQL statement spans and the service's spans in one trace."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from promptstage.api.routes import runtime
from promptstage.errors import ConfigurationError
from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore
from promptstage.telemetry import start, wanted
from promptstage.telemetry.otel import Telemetry

from .client import ADMIN_KEY, BASE, Api, Seeded

LABELS = f"{BASE}/{Seeded.project}/prompts/greet/labels"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Traced:
    def __init__(self, api: Api, telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
        self.api = api
        self.telemetry = telemetry
        self.exporter = exporter

    def spans(self) -> list[ReadableSpan]:
        self.telemetry.provider.force_flush()
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name == name]


@pytest.fixture
def traced(
    seeded: Seeded, make_store: Callable[[], SqlStore], runner: asyncio.Runner
) -> Iterator[Traced]:
    exporter = InMemorySpanExporter()
    settings = Settings(admin_key=ADMIN_KEY, state_check_seconds=0.0)
    telemetry = Telemetry.start(settings, {}, version="test", exporter=exporter)
    app = create_app(settings, store=make_store(), telemetry=telemetry)
    yield Traced(Api(runner, app, ADMIN_KEY), telemetry, exporter)
    telemetry.shutdown()


def test_a_label_move_is_one_trace_from_the_request_to_the_sql(
    traced: Traced, database_url: str
) -> None:
    moved = traced.api.put(
        f"{LABELS}/staging",
        json={"version": 1},
        headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
    )
    assert moved.status_code == 200, moved.text
    spans = traced.spans()
    route = (
        f"PUT {LABELS.replace(Seeded.project, '{project}').replace('greet', '{name}')}/{{label}}"
    )
    (request,) = [s for s in spans if s.name == route]
    assert request.kind == SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID  # the caller's trace goes on
    attrs = dict(request.attributes or {})
    assert attrs["http.response.status_code"] == 200
    assert attrs["http.route"] == route.split(" ", 1)[1]
    assert (attrs["promptstage.project"], attrs["promptstage.prompt"]) == ("acme", "greet")
    assert attrs["promptstage.label"] == "staging"

    (move,) = traced.named("promptstage.label.move")
    assert dict(move.attributes or {}) == {
        "promptstage.project": "acme",
        "promptstage.prompt": "greet",
        "promptstage.label": "staging",
        "promptstage.version": 1,
        "promptstage.previous_version": 3,
        "promptstage.move": "move",
        "promptstage.actor": "instance-admin",
    }
    by_id = {s.context.span_id: s for s in spans}

    def ancestors(span: ReadableSpan) -> list[str]:
        out = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            out.append(span.name)
        return out

    assert ancestors(move)[-3:] == ["promptstage.promote", "promptstage.change", route]
    statements = [s for s in spans if s.kind == SpanKind.CLIENT]
    writes = [s for s in statements if (s.attributes or {})["db.operation.name"] == "UPDATE"]
    assert writes and all(route in ancestors(s) for s in writes)
    query = str((writes[0].attributes or {})["db.query.text"])
    system = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    assert "UPDATE" in query and (writes[0].attributes or {})["db.system.name"] == system


def test_no_secret_reaches_a_span(traced: Traced) -> None:
    traced.api.get(f"{BASE}/{Seeded.project}/prompts?secret=hunter2")
    traced.api.as_key("ps_wrongkey_" + "f" * 64).get(f"{BASE}/{Seeded.project}/prompts")
    dumped = json.dumps([dict(s.attributes or {}) for s in traced.spans()])
    assert ADMIN_KEY not in dumped and "wrongkey" not in dumped  # no header is recorded
    assert "hunter2" not in dumped  # nor the query string
    assert "acme" in dumped


def test_client_controlled_values_are_bounded(traced: Traced) -> None:
    long_label = "l" * 5000
    traced.api.put(f"{LABELS}/{long_label}", json={"version": 1})
    (request,) = [s for s in traced.spans() if s.kind == SpanKind.SERVER]
    assert (request.attributes or {})["promptstage.label"] == "l" * 200
    assert len(str((request.attributes or {})["url.path"])) == 2000
    with (
        traced.telemetry.tracer.span("outer", {}),
        traced.telemetry.tracer.statement("SELECT " + "x, " * 5000 + "y", "sqlite"),
    ):
        pass
    (select,) = [
        s for s in traced.spans() if "x, x" in str((s.attributes or {}).get("db.query.text"))
    ]
    assert len(str((select.attributes or {})["db.query.text"])) == 2000


def test_failed_requests_carry_their_status(traced: Traced) -> None:
    assert traced.api.put(f"{LABELS}/staging", json={"version": 99}).status_code == 404
    (request,) = [s for s in traced.spans() if s.kind == SpanKind.SERVER]
    assert (request.attributes or {})["http.response.status_code"] == 404
    assert request.status.status_code == StatusCode.UNSET  # a 4xx is the caller's error


def test_statements_outside_a_span_are_not_traced(traced: Traced) -> None:
    with traced.telemetry.tracer.statement("SELECT 1", "sqlite"):
        pass
    assert traced.spans() == []
    with (
        traced.telemetry.tracer.span("outer", {}),
        traced.telemetry.tracer.statement("SELECT 1", "sqlite"),
    ):
        pass
    assert [s.name for s in traced.spans()] == ["SELECT", "outer"]


def test_tracing_is_on_only_when_an_endpoint_is_set() -> None:
    plain = Settings()
    endpoint = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    assert not wanted(plain, {})
    assert wanted(endpoint, {})
    assert wanted(plain, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert wanted(plain, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert not wanted(endpoint, {"OTEL_SDK_DISABLED": "true"})
    assert not wanted(endpoint, {"OTEL_TRACES_EXPORTER": "none"})
    assert start(plain, version="t", environ={}) is None


def test_service_name_from_settings_unless_the_standard_variable_says() -> None:
    settings = Settings(otel_service_name="prompts-eu")
    ours = Telemetry.start(settings, {}, version="9", exporter=InMemorySpanExporter())
    assert ours.provider.resource.attributes["service.name"] == "prompts-eu"
    assert ours.provider.resource.attributes["service.version"] == "9"
    ours.shutdown()


@pytest.mark.parametrize(
    "env",
    [
        {"PROMPTSTAGE_OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4318"},
        {"PROMPTSTAGE_OTEL_EXPORTER_OTLP_ENDPOINT": "http://"},
        {"PROMPTSTAGE_OTEL_SERVICE_NAME": " "},
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env(env)
    assert info.value.field == next(iter(env))


def test_without_the_extra_the_server_refuses_to_start_silently_untraced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "promptstage.telemetry.otel", None)
    settings = Settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")
    with pytest.raises(ConfigurationError) as info:
        start(settings, version="t", environ={})
    assert info.value.field == "PROMPTSTAGE_OTEL_EXPORTER_OTLP_ENDPOINT"
    assert "pip install 'promptstage[otel-server]'" in info.value.message
    assert start(Settings(), version="t", environ={}) is None  # off: nothing needed


# Run in a process of its own: it sets the global tracer provider, which cannot be unset.
_GLOBAL_PROVIDER_PROBE = """
import asyncio, httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from promptstage.server import create_app
from promptstage.settings import Settings

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
app = create_app(Settings(database_url="sqlite:///{db}"))

async def main():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/healthz")).status_code == 200

asyncio.run(main())
print(sorted({{s.instrumentation_scope.name for s in exporter.get_finished_spans()}}))
"""


def test_a_global_tracer_provider_gets_no_second_set_of_request_spans(tmp_path) -> None:
    """The server's spans are its own (PROMPTSTAGE_OTEL_*, above). FastAPI's native
    OpenTelemetry is off: a provider the embedding process set globally would otherwise get
    request spans named and shaped differently from ours, and every request would pay for the
    check."""
    code = _GLOBAL_PROVIDER_PROBE.format(db=tmp_path / "db.sqlite")
    env = {**os.environ, "PROMPTSTAGE_LOG_LEVEL": "warning"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fastapi" not in done.stdout, done.stdout


def test_a_resolve_answered_from_memory_has_its_request_span(
    seeded: Seeded,
    make_store: Callable[[], SqlStore],
    runner: asyncio.Runner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resolve fast path sits inside the request span (api/runtime_fast.py)."""
    routed: list[str] = []
    real = runtime.resolve_answer
    monkeypatch.setattr(runtime, "resolve_answer", lambda *a: routed.append("route") or real(*a))
    exporter = InMemorySpanExporter()
    settings = Settings(admin_key=ADMIN_KEY, state_check_seconds=60.0)
    telemetry = Telemetry.start(settings, {}, version="test", exporter=exporter)
    app = create_app(settings, store=make_store(), telemetry=telemetry)
    traced = Traced(Api(runner, app, seeded.keys["runtime"]), telemetry, exporter)
    try:
        url = f"{BASE}/{Seeded.project}/prompts/greet/resolve"
        assert traced.api.get(url).status_code == 200  # loads the state through the route
        traced.spans()  # flushed
        exporter.clear()
        assert traced.api.get(url).status_code == 200  # from memory
        route = "GET /api/v1/projects/{project}/prompts/{name}/resolve"
        (request,) = traced.named(route)
        assert request.kind == SpanKind.SERVER
        attrs = dict(request.attributes or {})
        assert attrs["http.response.status_code"] == 200
        assert not [s for s in traced.spans() if s.kind == SpanKind.CLIENT], "no SQL: memory"
        assert routed == ["route"], "the second answer came from the fast path"
    finally:
        telemetry.shutdown()
