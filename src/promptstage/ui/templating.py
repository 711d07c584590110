"""Jinja2 rendering for the UI: autoescaping everywhere, strict undefined names, and the
context every page shares (the signed-in person, the CSRF token, a one-time notice)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined

from promptstage.domain.models import iso_utc

from .session import PATH, set_cookie

NOTICE_COOKIE = "promptstage_notice"
NOTICE_MAX = 300  # characters kept of a notice


def _when(value: datetime | None) -> str:
    """A timestamp as people read it, in UTC: ``2026-12-07 14:03 UTC``."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


@cache
def environment() -> Environment:
    """The one template environment (built on first use, never at import)."""
    env = Environment(
        loader=PackageLoader("promptstage.ui", "templates"),
        autoescape=True,  # every template, whatever its name: untrusted text never becomes markup
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["iso"] = iso_utc
    env.filters["urlpart"] = lambda value: quote(str(value), safe="")
    return env


def is_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Render ``template`` with the shared context; a pending notice is shown once."""
    notice = request.cookies.get(NOTICE_COOKIE)
    context = {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf": getattr(request.state, "csrf", ""),
        "notice": unquote(notice)[:NOTICE_MAX] if notice else None,
        "project": None,
        "nav": None,
        **values,
    }
    html = environment().get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    if notice and not is_htmx(request):
        response.delete_cookie(NOTICE_COOKIE, path=PATH)
    return response


def redirect(request: Request, url: str, notice: str | None = None) -> Response:
    """After a form: go to ``url`` (303, so a reload never re-posts), with a one-time notice.

    htmx follows ``HX-Redirect`` instead of swapping the target page into a fragment.
    """
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if notice:
        set_cookie(response, request, NOTICE_COOKIE, quote(notice[:NOTICE_MAX]), 60)
    return response
