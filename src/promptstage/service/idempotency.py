"""Idempotency keys: a write sent again with the same ``Idempotency-Key`` returns the first
answer instead of writing again.

An attempt first *claims* its key in a transaction of its own (``begin``): of two concurrent
attempts exactly one inserts the claim; the other replays the stored answer, waits (409 with
``Retry-After``) while the first runs, or is refused (422) if its request differs. The attempt
then runs with its claim set in a context variable, and every write transaction it commits
marks the claim *applied* in that same transaction (:class:`RecordingStore`), conditional on
still owning it. Then ``finish`` stores the answer.

So a crash between the write's commit and the stored answer leaves an applied claim, and the
retry is told the write happened (409) rather than running it twice; a crash before any commit
leaves a claim that is taken over once its lease ran out; and an attempt whose claim was taken
over cannot commit (its write rolls back).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from promptstage.domain.idempotency import (
    HEADER,
    LEASE,
    TTL,
    IdempotencyRecord,
    StoredResponse,
    without_secrets,
)
from promptstage.errors import ConflictError, InvalidInputError
from promptstage.store.base import Leadership, Store, UnitOfWork

from .context import Context


@dataclass(frozen=True, slots=True)
class Claim:
    """The key an attempt holds while it runs."""

    scope: str
    key: str
    owner: str


_current: ContextVar[Claim | None] = ContextVar("promptstage_idempotency_claim", default=None)


@contextmanager
def holding(claim: Claim) -> Iterator[None]:
    """Run the block as the attempt holding ``claim``: its write transactions mark it applied."""
    token = _current.set(claim)
    try:
        yield
    finally:
        _current.reset(token)


def begin(ctx: Context, scope: str, key: str, request_hash: str) -> Claim | StoredResponse:
    """Claim ``key`` for a new attempt, or answer with what the first attempt left.

    Args:
        ctx: The service context.
        scope: The caller and operation (``domain.idempotency.scope_of``).
        key: The client's ``Idempotency-Key``.
        request_hash: The request's fingerprint (``domain.idempotency.request_hash``).

    Returns:
        A :class:`Claim` to run the request under, or the first attempt's answer to replay.

    Raises:
        InvalidInputError: The key was used for a different request (422).
        ConflictError: The first attempt is still running, or it applied its write and its
            answer was lost (409; ``details.retry_after`` when waiting helps).
    """
    now = ctx.clock()
    mine = IdempotencyRecord(scope, key, request_hash, secrets.token_hex(16), now)
    with ctx.store.unit_of_work(write=True) as uow:
        found = uow.claim_idempotency(mine)
        if found is not None and (found.expired(now) or found.abandoned(now)):
            if uow.replace_idempotency(found.owner, mine):
                found = None
            else:  # another attempt took it over first: what it left is the truth now
                found = uow.claim_idempotency(mine)
    if found is None:
        return Claim(scope, key, mine.owner)
    if found.request_hash != request_hash:
        raise InvalidInputError(
            f"{HEADER} {key!r} was already used for a different request (method, path or body) "
            "by this key; send a new key for a new request, or the same request to retry",
            field=HEADER,
        )
    if found.response is not None:
        return found.response
    running_until = found.created_at + LEASE
    if found.applied and now >= running_until:
        raise ConflictError(
            f"the request with {HEADER} {key!r} was applied but its answer was lost; read the "
            "resource to see the result instead of sending it again",
            field=HEADER,
        )
    wait = max(1, math.ceil((running_until - now).total_seconds()))
    raise ConflictError(
        f"a request with {HEADER} {key!r} is still running; retry after {wait} s (Retry-After)",
        field=HEADER,
        retry_after=wait,
    )


def finish(ctx: Context, claim: Claim, response: StoredResponse) -> None:
    """Store the attempt's answer (never its secrets), or drop its claim if it failed (5xx)
    before writing.

    A server error of an attempt that applied nothing is forgotten, so a retry runs again; one
    that applied a write is kept, since running it again would write twice.
    """
    with ctx.store.unit_of_work(write=True) as uow:
        if response.status >= 500:
            uow.release_idempotency(claim.scope, claim.key, claim.owner)
        uow.finish_idempotency(claim.scope, claim.key, claim.owner, without_secrets(response))


def abandon(ctx: Context, claim: Claim) -> None:
    """Drop the claim of an attempt that ended without an answer, unless it applied a write."""
    with ctx.store.unit_of_work(write=True) as uow:
        uow.release_idempotency(claim.scope, claim.key, claim.owner)


def prune(ctx: Context) -> int:
    """Delete claims older than ``TTL`` (24 h); the number deleted."""
    with ctx.store.unit_of_work(write=True) as uow:
        return uow.delete_idempotency_before(ctx.clock() - TTL)


def _mark(uow: UnitOfWork) -> None:
    """Mark the running attempt's claim applied in ``uow``, or refuse to commit it."""
    claim = _current.get()
    if claim is not None and not uow.mark_idempotency_applied(claim.scope, claim.key, claim.owner):
        raise ConflictError(
            f"this request's {HEADER} {claim.key!r} was taken over by a retry after its lease "
            "ran out; nothing was written by this attempt",
            field=HEADER,
        )


class RecordingStore:
    """A :class:`Store` whose write transactions mark the running attempt's claim applied,
    in the same commit as the write (``create_app`` wraps the store in it)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    @contextmanager
    def _writing(self) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work(write=True) as uow:
            yield uow
            _mark(uow)

    def unit_of_work(self, *, write: bool = False) -> AbstractContextManager[UnitOfWork]:
        """The inner store's transaction; a writing one also marks the running claim."""
        if write and _current.get() is not None:
            return self._writing()
        return self.inner.unit_of_work(write=write)

    def ping(self) -> None:
        """The inner store's ping."""
        self.inner.ping()

    def watch(
        self, callback: Callable[[str, int], None], on_reconnect: Callable[[], None]
    ) -> Callable[[], None] | None:
        """The inner store's watch."""
        return self.inner.watch(callback, on_reconnect)

    def leadership(self, name: str) -> Leadership:
        """The inner store's leader lock."""
        return self.inner.leadership(name)

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()
