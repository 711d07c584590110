"""Who is signed in, and the CSRF check every state-changing request passes.

The session cookie holds a random token; the server keeps only its SHA-256 and looks it up on
every request (``service/sessions.py``), so signing out, an expired session or a revoked role
takes effect at once. The CSRF token is derived from the session token (an HMAC), sent in a
hidden ``csrf`` field of every form and in the ``X-CSRF-Token`` header of every htmx request;
a request whose ``Origin`` or ``Sec-Fetch-Site`` says it came from another site is refused
before the token is even looked at. Before a session exists, the sign-in form is protected by
a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.errors import PermissionDeniedError
from promptstage.service import sessions
from promptstage.service.keys import Principal
from promptstage.service.sessions import SessionUser

from .config import UiConfig

COOKIE = "promptstage_session"
SIGN_IN_COOKIE = "promptstage_sign_in"  # the double-submit token of the sign-in form
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PATH = "/ui"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No valid session: the error handler sends the browser to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def config(request: Request) -> UiConfig:
    """The UI's configuration, built once by ``ui.app.install``."""
    found: UiConfig = request.app.state.ui
    return found


def secure(request: Request) -> bool:
    """Cookies get ``Secure`` when the browser reached us over https (directly, or through a
    trusted proxy's ``X-Forwarded-Proto``, which ``api/client_ip.py`` applies)."""
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """An HttpOnly, ``SameSite=Lax`` cookie for the UI's paths only."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )


def set_session(response: Response, request: Request, token: str, expires_at: datetime) -> None:
    """Hand the browser a new session cookie, living as long as the session's absolute expiry."""
    now = config(request).ctx.clock()
    set_cookie(response, request, COOKIE, token, max(1, int((expires_at - now).total_seconds())))
    response.delete_cookie(SIGN_IN_COOKIE, path=PATH)


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)


def sign_in_token(request: Request) -> str:
    """The sign-in form's double-submit token: the cookie's, or a new one."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)


def same_site(request: Request) -> bool:
    """Whether a state-changing request came from one of our own pages.

    ``Sec-Fetch-Site`` (every current browser sends it) must say same-origin; an ``Origin``
    must be ours. ``Origin: null`` (a privacy-minded browser) is believed only beside
    ``Sec-Fetch-Site: same-origin``. A client sending neither header is no browser a forged
    page could drive; its CSRF token is still checked.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin == "null":
        return fetch_site == "same-origin"
    return origin is None or urlsplit(origin).netloc == request.url.netloc


async def submitted_token(request: Request) -> str:
    """The CSRF token a request carries: the htmx header, else the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


def tokens_match(expected: str, given: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


async def check_origin_and_token(request: Request, expected: str) -> None:
    """Refuse a cross-site request or one without the expected CSRF token.

    Raises:
        PermissionDeniedError: naming ``csrf``.
    """
    if not same_site(request):
        raise PermissionDeniedError(
            "this form was sent from another site; open the page in promptstage and submit it "
            "there",
            field="csrf",
        )
    if not tokens_match(expected, await submitted_token(request)):
        raise PermissionDeniedError(
            "the form's security token is missing or out of date (the session changed); "
            "reload the page and submit it again",
            field="csrf",
        )


def current_user(request: Request) -> SessionUser | None:
    """The signed-in person, or ``None`` (sync: reads the store)."""
    ui = config(request)
    return sessions.current(ui.ctx, request.cookies.get(COOKIE), idle=ui.idle)


async def viewer(request: Request) -> SessionUser:
    """A dependency: the signed-in person, else :class:`SignInRequired`."""
    user = await run_in_threadpool(current_user, request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    request.state.user = user
    request.state.csrf = sessions.csrf_token(request.cookies.get(COOKIE) or "")
    return user


async def writer(request: Request) -> SessionUser:
    """A dependency for state-changing requests: a signed-in person and a valid CSRF token."""
    user = await viewer(request)
    if request.method not in SAFE_METHODS:
        await check_origin_and_token(request, request.state.csrf)
    return user


Viewer = Annotated[SessionUser, Depends(viewer)]
"""The signed-in person (pages that only read)."""
Writer = Annotated[SessionUser, Depends(writer)]
"""The signed-in person, CSRF-checked (every POST)."""


def acting(user: SessionUser, project: str) -> Principal:
    """``user`` as the principal that acts on ``project`` (its role there).

    Raises:
        PermissionDeniedError: the user has no role in ``project``.
    """
    return user.principal(project)
