"""OpenTelemetry on ``call()``: spans or attributes, checked with the real OTel SDK's
in-memory exporter; the client without the ``otel`` extra in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from promptstage import AsyncClient, Client
from promptstage.errors import ConfigurationError
from promptstage.sdk.otel import SPAN_NAME

from .helpers import PROJECT, basic_snapshot

RELEASE = {
    "id": "rel_1",
    "prompt": "booking.system",
    "label": "prod",
    "baseline_version": 1,
    "candidate_version": 2,
    "weight_bps": 10000,
    "salt": "s4lt",
    "hash_version": 1,
    "state": "running",
    "targeting": None,
}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


def offline(snap: dict[str, Any] | None = None, cls: Any = Client, **settings: Any) -> Any:
    """A client serving ``snap`` (the basic snapshot by default) without any server."""
    settings["transport"] = httpx.MockTransport(lambda r: httpx.Response(503))
    return cls(
        "http://promptstage.test",
        PROJECT,
        "ps_test_secret",
        bootstrap=snap or basic_snapshot(),
        cache_path=None,
        stream=False,
        poll_interval=3600.0,
        flush_interval=3600.0,
        close_timeout=0.0,
        **settings,
    )


@pytest.fixture
def client(provider: TracerProvider) -> Iterator[Client]:
    ps = offline(otel="span", otel_tracer_provider=provider)
    yield ps
    ps.close(timeout=0.0)


def only(exporter: InMemorySpanExporter, name: str = SPAN_NAME) -> ReadableSpan:
    spans = [s for s in exporter.get_finished_spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in exporter.get_finished_spans()]
    return spans[0]


def test_a_call_is_a_span_with_the_prompt_model_and_usage(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    p = client.get("booking.system", "prod", unit="user-42")
    with client.call(p) as call:
        call.finish(output="Booked.", tokens_in=812, tokens_out=95, model="gpt-4o-2024-08-06")
    span = only(exporter)
    assert dict(span.attributes or {}) == {
        "gen_ai.prompt.name": "booking.system",
        "gen_ai.prompt.version": 1,
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 95,
        "gen_ai.response.model": "gpt-4o-2024-08-06",
        "promptstage.label": "prod",
        "promptstage.arm": "baseline",
        "promptstage.digest": p.digest,
        "promptstage.call_id": call.id,
    }
    assert span.status.status_code == StatusCode.UNSET
    assert "user-42" not in json.dumps(dict(span.attributes or {}))  # the unit key stays local


def test_the_span_nests_under_the_caller_and_over_the_llm_client(
    client: Client, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("app")
    p = client.get("booking.system")
    with tracer.start_as_current_span("agent.step") as outer:
        with client.call(p) as call:
            with tracer.start_as_current_span("openai.chat"):
                pass
            call.finish(output="ok")
        after = trace.get_current_span()
    assert after is outer  # the call's span is current only inside its block
    spans = {s.name: s for s in exporter.get_finished_spans()}
    ours, inner, agent = spans[SPAN_NAME], spans["openai.chat"], spans["agent.step"]
    assert ours.parent is not None and ours.parent.span_id == agent.context.span_id
    assert inner.parent is not None and inner.parent.span_id == ours.context.span_id
    assert ours.context.trace_id == agent.context.trace_id


def test_an_exception_marks_the_span_failed_and_still_propagates(
    client: Client, exporter: InMemorySpanExporter
) -> None:
    p = client.get("booking.system")
    with pytest.raises(TimeoutError), client.call(p):
        raise TimeoutError("provider timed out")
    span = only(exporter)
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "TimeoutError: provider timed out"
    assert (span.attributes or {})["error.type"] == "TimeoutError"
    assert [e.name for e in span.events] == ["exception"]


def test_finish_without_with_ends_the_span(client: Client, exporter: InMemorySpanExporter) -> None:
    call = client.call(client.get("router.intent"))
    assert exporter.get_finished_spans() == ()
    call.finish(tokens_in=3)
    span = only(exporter)
    assert (span.attributes or {})["gen_ai.usage.input_tokens"] == 3
    call.finish(tokens_in=4)  # a second finish records nothing more
    assert len(exporter.get_finished_spans()) == 1


def test_release_arm_and_compat_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    snap = basic_snapshot()
    snap["releases"] = [RELEASE]
    ps = offline(
        snap,
        otel="span",
        otel_tracer_provider=provider,
        otel_compat=["langfuse", "openinference"],
    )
    try:
        p = ps.get("booking.system", "prod", unit="user-1")
        with ps.call(p):
            pass
    finally:
        ps.close(timeout=0.0)
    attrs = dict(only(exporter).attributes or {})
    assert (attrs["promptstage.release"], attrs["promptstage.arm"]) == ("rel_1", "canary")
    assert attrs["gen_ai.prompt.version"] == 2
    assert attrs["langfuse.observation.prompt.name"] == "booking.system"
    assert attrs["langfuse.observation.prompt.version"] == 2
    assert attrs["llm.prompt_template.version"] == "2"


def test_without_compat_no_foreign_attributes_and_a_fallback_has_no_version(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    snap = {"format": 1, "project": PROJECT, "seq": 0, "prompts": {}, "versions": {}}
    snap["releases"] = []
    ps = Client(
        "http://127.0.0.1:9",
        PROJECT,
        "ps_test_secret",
        cache_path=None,
        init_timeout=0.0,
        close_timeout=0.0,
        otel="span",
        otel_tracer_provider=provider,
        otel_compat=["langfuse"],
    )
    try:
        p = ps.get("booking.system", fallback="Hello")
        with ps.call(p):
            pass
    finally:
        ps.close(timeout=0.0)
    attrs = dict(only(exporter).attributes or {})
    assert attrs["promptstage.arm"] == "fallback"
    assert not {k for k in attrs if "version" in k or k.startswith("llm.")}
    assert "promptstage.digest" not in attrs


def test_current_mode_annotates_the_callers_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    ps = offline(otel="current", otel_tracer_provider=provider, otel_compat=["openinference"])
    tracer = provider.get_tracer("app")
    try:
        p = ps.get("booking.system")
        with ps.call(p):  # no current span: nothing happens
            pass
        with tracer.start_as_current_span("llm"), ps.call(p) as call:
            call.finish(tokens_out=7)
        with pytest.raises(ValueError), tracer.start_as_current_span("failing"), ps.call(p):
            raise ValueError("bad reply")
    finally:
        ps.close(timeout=0.0)
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["llm", "failing"]  # no span of our own
    llm = only(exporter, "llm")
    attrs = dict(llm.attributes or {})
    assert attrs["gen_ai.prompt.name"] == "booking.system"
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["llm.prompt_template.version"] == "1"
    failing = only(exporter, "failing")
    assert failing.status.status_code == StatusCode.ERROR
    assert (failing.attributes or {})["error.type"] == "ValueError"


def test_async_client_spans_nest_per_task(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("app")

    async def main() -> None:
        ps = offline(cls=AsyncClient, otel="span", otel_tracer_provider=provider)
        p = ps.get("booking.system")

        async def one(i: int) -> None:
            async with ps.call(p) as call:
                await asyncio.sleep(0.01)
                with tracer.start_as_current_span(f"llm-{i}"):
                    await asyncio.sleep(0.01)
                call.finish(tokens_in=i)

        await asyncio.gather(*(one(i) for i in range(3)))
        await ps.aclose()

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    ours = {s.context.span_id: s for s in spans if s.name == SPAN_NAME}
    assert len(ours) == 3
    for i in range(3):
        inner = only(exporter, f"llm-{i}")
        assert inner.parent is not None
        parent = ours[inner.parent.span_id]
        assert (parent.attributes or {})["gen_ai.usage.input_tokens"] == i


class Exploding(SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("exporter bug")


def test_a_failing_tracer_never_breaks_the_call(caplog: pytest.LogCaptureFixture) -> None:
    tp = TracerProvider()
    tp.add_span_processor(Exploding())
    ps = offline(otel="span", otel_tracer_provider=tp)
    try:
        p = ps.get("booking.system")
        for _ in range(3):
            with ps.call(p) as call:
                call.finish(output="ok")
        assert len(ps._outbox) == 3  # the call records are queued all the same
    finally:
        ps.close(timeout=0.0)
    logged = [r for r in caplog.records if "OpenTelemetry span" in r.getMessage()]
    assert len(logged) == 1 and "exporter bug" in caplog.text  # once, with the traceback


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"otel": "spans"}, "otel", "must be one of"),
        ({"otel_compat": "langfuse"}, "otel_compat", "otel_compat=['langfuse']"),
        ({"otel_compat": ["langfuse", "phoenix"]}, "otel_compat", "['phoenix'] are unknown"),
    ],
)
def test_bad_settings_name_the_field_and_the_fix(
    settings: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        offline(**settings)
    assert info.value.field == field and words in info.value.message


def test_the_environment_chooses_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSTAGE_OTEL", "off")
    ps = offline()
    assert ps._recorder.tracing is None
    ps.close(timeout=0.0)
    monkeypatch.setenv("PROMPTSTAGE_OTEL", "current")
    ps = offline()
    assert ps._recorder.tracing is not None and ps._recorder.tracing.current
    ps.close(timeout=0.0)
    monkeypatch.setenv("PROMPTSTAGE_OTEL", "loud")
    with pytest.raises(ConfigurationError) as info:
        offline()
    assert info.value.field == "PROMPTSTAGE_OTEL"


BLOCKED = """
import json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError(f"blocked: {name}")
        return None
if BLOCK:
    sys.meta_path.insert(0, Block())
from promptstage import Client
from promptstage.errors import ConfigurationError
snap = {"format": 1, "project": "clinic", "seq": 0, "prompts": {}, "versions": {}, "releases": []}
def client(**kw):
    return Client("http://127.0.0.1:9", "clinic", "ps_abc_def", cache_path=None,
                  init_timeout=0.0, close_timeout=0.0, **kw)
out = {}
ps = client(**EXTRA)
with ps.call(ps.get("greet", fallback="Hello")) as call:
    call.finish(output="ok")
out["queued"] = len(ps._outbox)
out["tracing"] = ps._recorder.tracing is not None
ps.close()
out["loaded"] = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
try:
    client(otel="span").close()
    out["explicit"] = "accepted"
except ConfigurationError as exc:
    out["explicit"] = exc.message
print(json.dumps(out))
"""


# The programs see the SDK's own default, not the suite's PROMPTSTAGE_OTEL=off (conftest.py).
DEFAULT_ENV = {k: v for k, v in os.environ.items() if k != "PROMPTSTAGE_OTEL"}


def run_program(block: bool, extra: dict[str, Any]) -> dict[str, Any]:
    program = BLOCKED.replace("BLOCK:", f"{block}:").replace("**EXTRA", f"**{extra!r}")
    out = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=DEFAULT_ENV,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_without_the_extra_nothing_changes_and_nothing_is_imported() -> None:
    out = run_program(True, {})
    assert out["loaded"] == []
    assert out["queued"] == 1 and out["tracing"] is False
    assert "pip install 'promptstage[otel]'" in out["explicit"]  # asked for, clearly refused


@pytest.mark.parametrize("extra", [{}, {"otel": "off"}, {"otel": "auto"}])
def test_with_the_extra_auto_and_off_import_nothing_the_application_did_not(
    extra: dict[str, Any],
) -> None:
    out = run_program(False, extra)
    assert out["loaded"] == []  # auto waits for the application to import OpenTelemetry
    assert out["queued"] == 1 and out["tracing"] is False
    assert out["explicit"] == "accepted"  # the extra is installed here


AUTO = """
import json
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from promptstage import Client
ps = Client("http://127.0.0.1:9", "clinic", "ps_abc_def", cache_path=None, init_timeout=0.0,
            close_timeout=0.0)
p = ps.get("greet", fallback="Hello")
with ps.call(p):  # only the API so far: no span, not even a no-op one
    pass
before = ps._recorder.tracing is not None
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
with ps.call(p):
    pass
ps.close()
print(json.dumps({"tracing": before, "spans": [s.name for s in exporter.get_finished_spans()]}))
"""


def test_auto_uses_the_global_provider_once_one_is_set() -> None:
    out = subprocess.run(
        [sys.executable, "-c", AUTO],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=DEFAULT_ENV,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "tracing": True,
        "spans": [SPAN_NAME],
    }
