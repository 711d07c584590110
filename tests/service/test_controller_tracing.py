"""A controller look is a span of the context's tracer, with the release, its decision and
its action; checked with the real OpenTelemetry SDK (``promptstage.telemetry.otel``)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from promptstage.service import controller, releases
from promptstage.service.context import Context
from promptstage.telemetry.otel import ServiceTracer
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, bernoulli, traffic

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded


@pytest.fixture
def exporter(seeded: Context) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    seeded.tracer = ServiceTracer(provider.get_tracer("test"))
    return memory


def test_a_look_that_rolls_back_is_a_span_with_its_decision(
    seeded: Context, exporter: InMemorySpanExporter
) -> None:
    release = releases.start_release(
        seeded,
        USER,
        PROJECT,
        prompt=PROMPT,
        label="prod",
        candidate_version=2,
        strategy="canary",
        guardrails=[{"metric": "thumbs_down"}],
    )
    traffic(
        seeded,
        release,
        units=8000,
        error=(0.0, 0.0),
        scores={"thumbs_down": bernoulli(0.30, 0.10)},
    )
    exporter.clear()
    (outcome,) = controller.run_once(seeded, seeded.clock())
    assert outcome.action == "rollback", outcome.reason
    spans = exporter.get_finished_spans()
    (look,) = [s for s in spans if s.name == "promptstage.controller.look"]
    assert dict(look.attributes or {}) == {
        "promptstage.project": PROJECT,
        "promptstage.prompt": PROMPT,
        "promptstage.label": "prod",
        "promptstage.release": release.id,
        "promptstage.release.step": 0,
        "promptstage.release.weight_bps": release.weight_bps,
        "promptstage.decision": outcome.decision,
        "promptstage.action": "rollback",
    }
    (write,) = [s for s in spans if s.name == "promptstage.change"]
    assert write.parent is not None and write.parent.span_id == look.context.span_id
