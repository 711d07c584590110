"""``POST /api/public/otel/v1/traces``: OTLP/HTTP spans (protobuf or JSON) into the call log.

The Langfuse SDK (v3+) exports its spans here; ``service/otel_calls.py`` turns each generation
span that names a prompt version into a call record. This module only decodes the wire.
"""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

from fastapi import Request, Response
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from starlette.concurrency import run_in_threadpool

from promptstage.api.compat.langfuse import Who, router
from promptstage.api.compat.langfuse import facade as langfuse_facade
from promptstage.domain.models import Role
from promptstage.errors import InvalidInputError, MalformedRequestError
from promptstage.service import langfuse as facade_svc
from promptstage.service.otel_calls import Ingested, Span, ingest_spans

PROTOBUF = "application/x-protobuf"
STATUS_ERROR = 2


def _any(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def spans_of_protobuf(body: bytes) -> list[Span]:
    """The spans of an OTLP ``ExportTraceServiceRequest`` in protobuf."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception as exc:
        raise MalformedRequestError(f"body is not an OTLP protobuf trace export ({exc})") from None
    return [
        Span(
            trace_id=span.trace_id.hex(),
            span_id=span.span_id.hex(),
            start_ns=span.start_time_unix_nano,
            end_ns=span.end_time_unix_nano,
            attributes={kv.key: _any(kv.value) for kv in span.attributes},
            failed=span.status.code == STATUS_ERROR,
            status_message=span.status.message,
        )
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


def _json_any(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "intValue":
        return int(inner)
    if kind == "arrayValue":
        return [_json_any(v) for v in (inner or {}).get("values", [])]
    if kind == "kvlistValue":
        return {kv.get("key"): _json_any(kv.get("value")) for kv in (inner or {}).get("values", [])}
    return inner


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInputError(f"{where} must be a list", field=where)
    return value


def spans_of_json(document: Any) -> list[Span]:
    """The spans of an OTLP/JSON trace export (ids in hex, as OTLP/JSON writes them)."""
    if not isinstance(document, dict):
        raise InvalidInputError("body must be an OTLP/JSON object with resourceSpans", field="body")
    spans: list[Span] = []
    for r, resource in enumerate(_list(document.get("resourceSpans"), "resourceSpans")):
        where = f"resourceSpans[{r}].scopeSpans"
        for scope in _list(
            resource.get("scopeSpans") if isinstance(resource, dict) else None, where
        ):
            for raw in _list(
                scope.get("spans") if isinstance(scope, dict) else None, f"{where}.spans"
            ):
                if not isinstance(raw, dict):
                    raise InvalidInputError(f"{where}.spans items must be objects", field=where)
                status = raw.get("status") or {}
                try:
                    spans.append(
                        Span(
                            trace_id=str(raw.get("traceId", "")),
                            span_id=str(raw.get("spanId", "")),
                            start_ns=int(raw.get("startTimeUnixNano") or 0),
                            end_ns=int(raw.get("endTimeUnixNano") or 0),
                            attributes={
                                str(a.get("key")): _json_any(a.get("value"))
                                for a in _list(raw.get("attributes"), f"{where}.spans.attributes")
                                if isinstance(a, dict)
                            },
                            failed=status.get("code") in (STATUS_ERROR, "STATUS_CODE_ERROR"),
                            status_message=str(status.get("message") or ""),
                        )
                    )
                except (TypeError, ValueError):
                    raise InvalidInputError(
                        f"{where}.spans: times must be integers (nanoseconds)", field=where
                    ) from None
    return spans


def _decompressed(body: bytes, encoding: str) -> bytes:
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as exc:
        raise MalformedRequestError(f"body is not valid {encoding} ({exc})") from None
    if encoding not in ("", "identity"):
        raise InvalidInputError(
            f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none",
            field="content-encoding",
        )
    return body


@router.post("/otel/v1/traces", summary="OTLP/HTTP traces: generation spans become call records")
async def otel_traces(who: Who, request: Request) -> Response:
    facade = langfuse_facade(request)
    project = facade_svc.authorize(who, Role.runtime)
    body = _decompressed(await request.body(), request.headers.get("content-encoding", "").lower())
    protobuf = request.headers.get("content-type", "").split(";")[0].strip() == PROTOBUF
    if protobuf:
        spans = spans_of_protobuf(body)
    else:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise MalformedRequestError(f"body is not valid JSON ({exc})") from None
        spans = spans_of_json(document)

    def ingest() -> Ingested:
        state = facade.cache.read(project).state
        return ingest_spans(facade.ctx, state, spans, facade.production)

    done = await run_in_threadpool(ingest)
    message = "; ".join(done.reasons)
    if protobuf:
        answer = ExportTraceServiceResponse()
        if done.rejected:
            answer.partial_success.rejected_spans = done.rejected
            answer.partial_success.error_message = message
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    partial = {"rejectedSpans": done.rejected, "errorMessage": message} if done.rejected else {}
    return Response(
        json.dumps({"partialSuccess": partial} if partial else {}), media_type="application/json"
    )
