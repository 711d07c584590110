"""Authentication and the role check every route declares."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from promptstage.domain import langfuse
from promptstage.domain.models import Role
from promptstage.errors import PromptstageError
from promptstage.service.access import check
from promptstage.service.keys import Authenticator, Principal

PRINCIPAL_SCOPE_KEY = "promptstage.principal"
"""Where ``RateLimit`` leaves the principal it authenticated from the request's own
``Authorization`` header, so the resolve fast path does not verify the key twice."""


def bearer_token(header: str | None) -> str | None:
    """The key in an ``Authorization`` header: ``Bearer <key>``, the bare key, or ``Basic`` with
    a Langfuse key pair (``pk-lf-<prefix>:sk-lf-<secret>``, the same key spelled as Langfuse
    clients send it; see ``domain/langfuse.py``)."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return _basic_pair(value.strip())
    return value.strip() if scheme.lower() == "bearer" else header


def _basic_pair(value: str) -> str:
    """The key a Basic credential stands for; what does not decode stays as sent (and fails
    authentication with the usual 401)."""
    try:
        public, _, secret = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return value
    return langfuse.token_of_pair(public, secret) or value


async def authenticate(authenticator: Authenticator, token: str | None) -> Principal:
    """A recently verified key from memory, on the event loop; otherwise (a database read, or
    an error to explain) through the thread pool."""
    found = authenticator.authenticate_cached(token)
    if found is None:
        found = await run_in_threadpool(authenticator.authenticate, token)
    return found


async def key_holder(
    authenticator: Authenticator, headers: Iterable[tuple[bytes, bytes]]
) -> Principal | None:
    """The principal of the key in raw ASGI ``headers``, or ``None`` when there is none or it
    does not authenticate (for middleware: the route itself answers the 401)."""
    header = next((v.decode("latin-1") for k, v in headers if k == b"authorization"), None)
    token = bearer_token(header)
    if not token:
        return None
    try:
        return await authenticate(authenticator, token)
    except PromptstageError:
        return None


async def principal(request: Request) -> Principal:
    """The caller, authenticated from ``Authorization: Bearer <key>``.

    A key verified recently is answered from memory on the event loop; only a cache miss goes
    to the database, in the thread pool (this keeps the runtime hot path off the pool).
    """
    found = await authenticate(
        request.app.state.authenticator, bearer_token(request.headers.get("authorization"))
    )
    request.state.principal = found
    return found


def role(needed: Role) -> Callable[[Request, str], Awaitable[Principal]]:
    """A dependency: the caller must hold ``needed`` on the path's ``project``."""

    async def dependency(request: Request, project: str) -> Principal:
        who = await principal(request)
        check(who, project, needed)
        return who

    dependency.__name__ = f"requires_{needed.value}"
    return dependency
