"""Idempotency keys: what a write sent with an ``Idempotency-Key`` leaves behind, so that a
retry of it returns the first answer instead of writing again.

Pure data and rules; the store keeps the records and ``service/idempotency.py`` decides.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from promptstage.errors import InvalidInputError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
TTL = timedelta(hours=24)  # a key answers with its first result this long
LEASE = timedelta(seconds=60)  # how long an attempt may run; unfinished after it, it is dead
# The response headers a replay repeats (the rest are the server's own, set afresh).
KEPT_HEADERS = frozenset({"content-type", "etag", "location"})
# Answer fields that carry a secret shown once (a key's token, a webhook's HMAC secret): never
# stored, so the idempotency table holds no credential; a replay answers them as null.
SECRET_FIELDS = ("token", "secret")
REDACTED_HEADER = "Idempotent-Redacted"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer to a request, as it is replayed.

    Attributes:
        status: The HTTP status code.
        headers: The response headers worth repeating (``KEPT_HEADERS``), lower-case names.
        body: The response body, byte for byte (less its secrets: :func:`without_secrets`).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """One claimed key.

    Attributes:
        scope: Who sent it, where: the caller's key prefix and a hash of method and path.
        key: The ``Idempotency-Key`` the client chose.
        request_hash: SHA-256 of method, path, query and body: a retry must match it.
        owner: A random token of the attempt holding the claim.
        created_at: When the claim was taken (the record expires ``TTL`` later).
        applied: A write of the attempt committed (set in that write's transaction).
        response: The answer, once the attempt finished; ``None`` while it runs.
    """

    scope: str
    key: str
    request_hash: str
    owner: str
    created_at: datetime
    applied: bool = False
    response: StoredResponse | None = None

    def expired(self, now: datetime) -> bool:
        """Older than ``TTL``: the key may be used afresh."""
        return now - self.created_at >= TTL

    def abandoned(self, now: datetime) -> bool:
        """Claimed, never applied nor finished, and older than ``LEASE``: its attempt died
        before writing anything, so another attempt may take the claim over."""
        return self.response is None and not self.applied and now - self.created_at >= LEASE


def check_key(value: str) -> str:
    """``value`` if it is a usable key: 1-255 printable ASCII characters.

    Raises:
        InvalidInputError: Naming the header and what a key looks like.
    """
    if not 0 < len(value) <= MAX_KEY_LENGTH or not all(" " < c <= "~" for c in value):
        raise InvalidInputError(
            f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces "
            "(a UUID is a good choice), one per logical request",
            field=HEADER,
        )
    return value


def scope_of(caller: str, method: str, path: str) -> str:
    """The scope of a key: the caller (its first 64 characters, for reading) and a
    fixed-length digest of caller, method and path (for uniqueness)."""
    operation = hashlib.sha256(f"{caller}\n{method} {path}".encode()).hexdigest()
    return f"{caller[:64]}:{operation}"


def request_hash(method: str, path: str, query: bytes, body: bytes) -> str:
    """SHA-256 over what makes two requests the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def without_secrets(response: StoredResponse) -> StoredResponse:
    """``response`` as it may be stored: its top-level ``SECRET_FIELDS`` set to null, named in
    an ``Idempotent-Redacted`` header (the secret was shown once, in the first answer)."""
    if not response.body.startswith(b"{"):
        return response
    try:
        data = json.loads(response.body)
    except ValueError:
        return response
    hidden = [name for name in SECRET_FIELDS if isinstance(data, dict) and data.get(name)]
    if not hidden:
        return response
    body = json.dumps({**data, **dict.fromkeys(hidden)}, ensure_ascii=False, separators=(",", ":"))
    headers = (*response.headers, (REDACTED_HEADER.lower(), ", ".join(hidden)))
    return dataclasses.replace(response, headers=headers, body=body.encode())
