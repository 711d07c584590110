"""Sign in (a person's name and password, or the instance admin key) and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.errors import AuthenticationError, RateLimitedError
from promptstage.service import sessions

from ..session import (
    COOKIE,
    SIGN_IN_COOKIE,
    Writer,
    check_origin_and_token,
    clear_session,
    config,
    current_user,
    set_cookie,
    set_session,
    sign_in_token,
)
from ..templating import redirect, render

router = APIRouter()

HOME = "/ui/"
SIGN_IN_TOKEN_SECONDS = 3600


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a UI path of ours, never another site (``//evil``)."""
    if not value or not value.startswith("/ui/") or value.startswith("//") or "\\" in value:
        return HOME
    return value


def _form(
    request: Request,
    status: int = 200,
    *,
    error: str | None = None,
    name: str = "",
    next_url: str = HOME,
) -> Response:
    token = sign_in_token(request)
    response = render(
        request,
        "sign_in.html",
        status_code=status,
        error=error,
        name=name,
        next_url=next_url,
        sign_in_token=token,
    )
    set_cookie(response, request, SIGN_IN_COOKIE, token, SIGN_IN_TOKEN_SECONDS)
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    if await run_in_threadpool(current_user, request) is not None:
        return redirect(request, safe_next(next))
    return _form(request, next_url=safe_next(next))


async def _admitted(request: Request) -> str:
    """The client IP after the checks every sign-in passes: same site, the form's token, and
    the IP not blocked for failed authentications.

    Raises:
        PermissionDeniedError: cross-site, or the token is missing (``csrf``).
        RateLimitedError: too many failed authentications from this IP.
    """
    await check_origin_and_token(request, request.cookies.get(SIGN_IN_COOKIE) or "")
    ip = request.client.host if request.client else "unknown"
    blocked = config(request).failures.blocked_for(ip, config(request).ctx.clock().timestamp())
    if blocked:
        raise RateLimitedError(
            "too many failed sign-ins from this address; wait and try again",
            field="password",
            retry_after=blocked,
        )
    return ip


async def _refused(request: Request, ip: str, *, name: str, next_url: str) -> Response:
    ui = config(request)
    blocked = await ui.failures.failed(ip, ui.ctx.clock().timestamp())
    if blocked:
        raise RateLimitedError(
            "too many failed sign-ins from this address; wait and try again",
            field="password",
            retry_after=blocked,
        )
    return _form(request, 401, error="wrong name or password", name=name, next_url=next_url)


def _signed_in(request: Request, grant: sessions.NewSession, next_url: str) -> Response:
    response = redirect(request, safe_next(next_url))
    set_session(response, request, grant.token, grant.user.expires_at)
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    ip = await _admitted(request)
    ui = config(request)
    try:
        grant = await run_in_threadpool(
            sessions.sign_in, ui.ctx, name.strip(), password, absolute=ui.absolute
        )
    except AuthenticationError:
        return await _refused(request, ip, name=name, next_url=safe_next(next))
    return _signed_in(request, grant, next)


@router.post("/sign-in/key")
async def sign_in_with_key(
    request: Request,
    key: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    ip = await _admitted(request)
    ui = config(request)
    try:
        grant = await run_in_threadpool(
            sessions.sign_in_admin, ui.ctx, ui.authenticator, key.strip(), absolute=ui.absolute
        )
    except AuthenticationError:
        return await _refused(request, ip, name="", next_url=safe_next(next))
    return _signed_in(request, grant, next)


@router.post("/sign-out")
async def sign_out(request: Request, user: Writer) -> Response:
    ui = config(request)
    await run_in_threadpool(sessions.sign_out, ui.ctx, request.cookies.get(COOKIE))
    response = redirect(request, "/ui/sign-in", notice="You are signed out.")
    clear_session(response)
    return response
