"""Generation spans exported by the real Langfuse SDK arrive as call records."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
from langfuse import Langfuse
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from support.live import Server, server  # noqa: F401

from .test_sdk import BASE, _key, _project, _seed_text


def _calls(server: Server, project: str, expected: int) -> list[dict[str, Any]]:  # noqa: F811
    deadline = time.monotonic() + 15
    while True:
        items: list[dict[str, Any]] = server.api("GET", f"{BASE}/{project}/calls?limit=100")[
            "items"
        ]
        if len(items) >= expected or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


def test_a_generation_span_from_the_langfuse_sdk_becomes_a_call(server: Server) -> None:  # noqa: F811
    project = _project(server)
    _seed_text(server, project, "greet")
    public, secret = _langfuse_pair(server, project)
    # A provider of the test's own: left to itself, the Langfuse SDK sets the process's global
    # tracer provider for good, and every span any later test makes (FastAPI's own included)
    # would be exported to this test's stopped server, retried with jitter from `random`.
    provider = TracerProvider()
    lf = Langfuse(
        public_key=public,
        secret_key=secret,
        base_url=server.url,
        flush_at=1,
        tracer_provider=provider,
    )
    prompt = lf.get_prompt("greet", cache_ttl_seconds=0)
    with lf.start_as_current_observation(
        name="answer", as_type="generation", prompt=prompt, model="gpt-4o"
    ) as generation:
        time.sleep(0.02)
        generation.update(
            output="Hello Ana.",
            usage_details={"input": 12, "output": 4},
            cost_details={"total": 0.0021},
        )
    with lf.start_as_current_observation(
        name="failed", as_type="generation", prompt=prompt, model="gpt-4o"
    ) as failing:
        failing.update(level="ERROR", status_message="provider timed out")
    with lf.start_as_current_observation(name="no prompt", as_type="span"):
        pass
    lf.flush()
    lf.shutdown()
    provider.shutdown()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # left unset
    calls = _calls(server, project, 2)
    assert len(calls) == 2, calls
    by_error = {c["error"]: c for c in calls}
    ok = by_error[None]
    assert ok["prompt"] == "greet" and ok["version"] == 1 and ok["label"] == "prod"
    assert ok["tokens_in"] == 12 and ok["tokens_out"] == 4 and ok["cost"] == 0.0021
    assert ok["model"] == "gpt-4o" and ok["latency_ms"] >= 15
    assert by_error["provider timed out"]["version"] == 1


def _otlp_json(trace: str, span: str, attributes: dict[str, Any], error: bool = False) -> Any:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, int):
            return {"intValue": str(v)}
        return {"stringValue": str(v)}

    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": span,
                                "name": "gen",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000250000000",
                                "attributes": [
                                    {"key": k, "value": value(v)} for k, v in attributes.items()
                                ],
                                "status": {"code": 2, "message": "boom"} if error else {},
                            }
                        ]
                    }
                ]
            }
        ]
    }


def test_otlp_json_gzip_is_accepted_idempotently_and_unknown_prompts_are_reported(
    server: Server,  # noqa: F811
) -> None:
    project = _project(server)
    _seed_text(server, project, "greet")
    public, secret = _langfuse_pair(server, project)
    attrs = {
        "langfuse.observation.prompt.name": "greet",
        "langfuse.observation.prompt.version": 2,
        "gen_ai.usage.input_tokens": 7,
    }
    body = _otlp_json("ab" * 16, "cd" * 8, attrs, error=True)
    url = f"{server.url}/api/public/otel/v1/traces"
    for _ in range(2):  # the same span twice is one call
        answer = httpx.post(
            url,
            content=gzip.compress(json.dumps(body).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            auth=(public, secret),
        )
        assert answer.status_code == 200, answer.text
    calls = _calls(server, project, 1)
    assert [(c["version"], c["label"], c["arm"], c["error"]) for c in calls] == [
        (2, "latest", "baseline", "boom")
    ]
    assert calls[0]["latency_ms"] == 250 and calls[0]["tokens_in"] == 7
    unknown = _otlp_json("ef" * 16, "01" * 8, {**attrs, "langfuse.observation.prompt.name": "x"})
    answer = httpx.post(url, json=unknown, auth=(public, secret))
    assert answer.json()["partialSuccess"]["rejectedSpans"] == 1
    assert "'x'" in answer.json()["partialSuccess"]["errorMessage"]
    bad = httpx.post(url, content=b"\x00garbage", auth=(public, secret),
                     headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    assert bad.status_code == 400 and "OTLP" in bad.json()["message"]


def _langfuse_pair(server: Server, project: str) -> tuple[str, str]:  # noqa: F811
    from promptstage.domain.langfuse import key_pair

    return key_pair(_key(server, project, "runtime"))
