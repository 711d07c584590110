"""A real ``promptstage serve`` process exports its spans over OTLP/HTTP to a real receiver on
127.0.0.1 (``tests/support/otlp.py``, decoding with ``opentelemetry-proto``); so does the SDK."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from promptstage import Client
from support.otlp import Span, otlp_receiver

from ..servers import FAST, ServerProcess

ROUTE = "PUT /api/v1/projects/{project}/prompts/{name}/labels/{label}"


def has(name: str) -> object:
    return lambda spans: any(s.name == name for s in spans)


def test_the_server_exports_request_label_move_and_sql_spans(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        server = ServerProcess(
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            tmp_path,
            env={
                "PROMPTSTAGE_OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
            },
        ).start()
        api = server.api()
        try:
            project = api.project()
            api.prompt(project, "greet")
            api.version(project, "greet", "Hello {{ name }}")
            v2 = api.version(project, "greet", "Hi {{ name }}")
            api.move(project, "greet", "staging", v2)
            assert receiver.wait_for(has("promptstage.label.move")), receiver.spans
            assert receiver.wait_for(has(ROUTE))
        finally:
            api.close()
            server.stop()
    assert set(receiver.paths) == {"/v1/traces"}
    (move,) = receiver.named("promptstage.label.move")
    assert move.attributes["promptstage.project"] == project
    assert move.attributes["promptstage.label"] == "staging"
    assert move.attributes["promptstage.version"] == v2
    assert move.resource["service.name"] == "promptstage"
    (request,) = receiver.named(ROUTE)
    assert request.kind == SpanKind.SERVER.value + 1  # OTLP numbers kinds from 1 (internal)
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["promptstage.project"] == project
    same_trace = [s for s in receiver.spans if s.trace_id == request.trace_id]
    names = {s.name for s in same_trace}
    assert {"promptstage.change", "promptstage.promote", "promptstage.label.move"} <= names
    assert any(s.attributes.get("db.operation.name") == "UPDATE" for s in same_trace)


def test_standard_variables_and_a_stop_flushes_what_is_queued(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        server = ServerProcess(
            f"sqlite:///{tmp_path / 'db.sqlite'}",
            tmp_path,
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_SERVICE_NAME": "prompts-eu",
                "OTEL_BSP_SCHEDULE_DELAY": "600000",  # only the shutdown sends anything
            },
        ).start()
        api = server.api()
        try:
            project = api.project()
        finally:
            api.close()
        assert receiver.spans == []
        server.stop()
        assert receiver.wait_for(has("POST /api/v1/projects"), timeout=5.0), receiver.spans
    (created,) = receiver.named("POST /api/v1/projects")
    assert created.resource["service.name"] == "prompts-eu"
    assert created.attributes["http.response.status_code"] == 201
    assert project


def test_the_sdk_exports_call_spans_that_langfuse_and_phoenix_link(tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        server = ServerProcess(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path).start()
        api = server.api()
        provider = TracerProvider()
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces"))
        )
        try:
            project = api.project()
            api.prompt(project, "greet")
            version = api.version(project, "greet", "Hello {{ name }}")
            api.move(project, "greet", "prod", version)
            key, _ = api.key(project)
            ps = Client(
                server.url,
                project,
                key,
                cache_path=None,
                otel="span",
                otel_compat=["langfuse", "openinference"],
                otel_tracer_provider=provider,
                **FAST,
            )
            try:
                with ps.call(ps.get("greet", "prod", unit="u1")) as call:
                    call.finish(output="Hello", tokens_in=5, tokens_out=2)
            finally:
                ps.close()
            provider.force_flush()
            assert receiver.wait_for(has("promptstage.call")), receiver.spans
        finally:
            provider.shutdown()
            api.close()
            server.stop()
    (span,) = receiver.named("promptstage.call")
    assert_linked(span, version)


def assert_linked(span: Span, version: int) -> None:
    assert span.scope == "promptstage.sdk"
    attrs = span.attributes
    assert (attrs["gen_ai.prompt.name"], attrs["gen_ai.prompt.version"]) == ("greet", version)
    assert attrs["langfuse.observation.prompt.name"] == "greet"
    assert attrs["langfuse.observation.prompt.version"] == version
    assert attrs["llm.prompt_template.version"] == str(version)
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (5, 2)
    assert attrs["gen_ai.request.model"] == "gpt-4o"
