"""The one place errors become HTTP responses: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from promptstage.errors import PromptstageError

log = logging.getLogger("promptstage.api")

_STATUS_CODES = {
    400: "malformed_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, field: str | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    if extra:
        body["details"] = extra
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    if not parts:
        return None
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "properties": {
                "code": {"type": "string", "examples": ["not_found"]},
                "message": {"type": "string", "description": "What is wrong and how to fix it"},
                "field": {
                    "type": ["string", "null"],
                    "description": "The input it is about, if one",
                },
                "details": {"type": "object"},
            },
        }
    },
}
_ANSWERS = {  # status: (description, only for methods that change something)
    400: ("Malformed request: the body is not strict JSON or not an object", True),
    401: ("Missing, unknown or revoked API key", False),
    403: ("The key lacks the role, or belongs to another project", False),
    404: ("No such project or object", False),
    409: ("Conflict: the state changed under you", True),
    413: ("Request body too large", True),
    422: ("Invalid input; `field` names it", False),
    429: ("Rate limited; retry after `Retry-After` seconds", False),
    503: ("The store cannot be reached", False),
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


BEARER = {"type": "http", "scheme": "bearer", "description": "An API key: ps_<prefix>_<secret>"}
BASIC = {
    "type": "http",
    "scheme": "basic",
    "description": "A Langfuse key pair pk-lf-<prefix> : sk-lf-<secret> (promptstage key create "
    "--langfuse), for the Langfuse-compatible API under /api/public/",
}
LANGFUSE_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message", "error", "code", "field"],
    "properties": {
        "message": {"type": "string", "description": "What is wrong and how to fix it"},
        "error": {"type": "string", "examples": ["NotFoundError"]},
        "code": {"type": "string", "examples": ["not_found"]},
        "field": {"type": ["string", "null"]},
    },
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every API operation of an OpenAPI document the bearer key it needs and the error
    answers it can give, all in the one error shape (replacing FastAPI's ``HTTPValidationError``,
    which we never send)."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    components["securitySchemes"]["basic"] = BASIC
    components = components.setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["Error"] = ERROR_SCHEMA
    components["LangfuseError"] = LANGFUSE_ERROR_SCHEMA
    ours = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    langfuse = {"application/json": {"schema": {"$ref": "#/components/schemas/LangfuseError"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            foreign = path.startswith("/api/public/")
            operation.setdefault("security", [{"basic": []}] if foreign else [{"bearer": []}])
            content = langfuse if foreign else ours
            responses = operation.setdefault("responses", {})
            for status, (description, writes_only) in _ANSWERS.items():
                if writes_only and method == "get":
                    continue
                answer: dict[str, Any] = {"description": description, "content": content}
                if status == 429:
                    answer["headers"] = _RETRY_AFTER
                responses[str(status)] = answer
    return schema


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path (FastAPI has a route per method)."""
    routes = request.app.router.routes
    return [
        method
        for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same shape, and document them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(PromptstageError)
    async def _domain(request: Request, exc: PromptstageError) -> JSONResponse:
        body = exc.to_dict()
        return error_response(
            exc.status_code, body["code"], body["message"], body["field"], **body.get("details", {})
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first: dict[str, Any] = (
            dict(errors[0]) if errors else {"loc": (), "msg": "invalid request", "type": ""}
        )
        if first.get("type") == "json_invalid":
            return error_response(
                400,
                "malformed_request",
                f"request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')}); "
                "send a JSON object with Content-Type: application/json",
            )
        field = _field(tuple(first.get("loc", ())))
        message = str(first.get("msg", "invalid value"))
        if first.get("type") == "missing" and field is None:  # no body at all
            return error_response(
                400,
                "malformed_request",
                "request body is required: send a JSON object with Content-Type: application/json",
            )
        if first.get("type") == "missing":
            message = f"{field} is required"
        elif first.get("type") == "extra_forbidden":
            message = f"{field} is not a known field; remove it"
        elif first.get("type") == "model_attributes_type":
            return error_response(
                400, "malformed_request", "request body must be a JSON object", None
            )
        else:
            message = f"{field}: {message}" if field else message
        return error_response(422, "invalid_input", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = (
            str(exc.detail)
            if exc.status_code != 404
            else f"no route {request.method} {request.url.path}"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # RFC 9110: Allow lists every method of the resource
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = (
                f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
            )
        response = error_response(exc.status_code, code, message)
        response.headers.update(headers)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal_error", "internal error; the server log has the details"
        )
