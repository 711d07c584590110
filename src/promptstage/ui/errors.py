"""Errors as pages: the message names the field and the fix, never a traceback.

An htmx request gets the error as a fragment (htmx is configured to swap 4xx answers into the
page, see ``templates/base.html``), a plain request a whole page with the same status code.
"""

from __future__ import annotations

import logging
import math
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from promptstage.errors import PromptstageError, RateLimitedError

from .session import SignInRequired
from .templating import is_htmx, render

log = logging.getLogger("promptstage.ui")

TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Changed meanwhile",
    413: "Too large",
    422: "Check the form",
    429: "Too many attempts",
    503: "Store unavailable",
}


def error_page(
    request: Request, status: int, message: str, field: str | None = None
) -> HTMLResponse:
    """The error page (or fragment, for htmx) with ``status``."""
    template = "_error.html" if is_htmx(request) else "error.html"
    return render(
        request,
        template,
        status_code=status,
        title=TITLES.get(status, "Error"),
        status=status,
        message=message,
        field=field,
    )


def sign_in_url(next_url: str) -> str:
    return f"/ui/sign-in?next={quote(next_url, safe='')}"


def install(ui: FastAPI) -> None:
    """Register the handlers that turn every error of the UI into a page."""

    @ui.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = sign_in_url(exc.next_url)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @ui.exception_handler(PromptstageError)
    async def _domain(request: Request, exc: PromptstageError) -> Response:
        response = error_page(request, exc.status_code, exc.message, exc.field)
        retry_after = exc.details.get("retry_after")
        if isinstance(exc, RateLimitedError) and isinstance(retry_after, int | float):
            response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response

    @ui.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = dict(exc.errors()[0]) if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "form")]
        field = ".".join(loc) or None
        if first.get("type") == "missing":
            message = f"{field} is required: fill it in and submit again"
        else:
            message = f"{field}: {first.get('msg', 'invalid value')}" if field else "invalid form"
        return error_page(request, 422, message, field)

    @ui.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            message = f"there is no page at {request.url.path}; use the navigation above"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return error_page(request, exc.status_code, message)

    @ui.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_page(request, 500, "internal error; the server log has the details")
