"""Signed audit checkpoints: the chain head, anchored outside the database (SPEC §8).

A checkpoint says "row ``seq`` of project ``project``'s audit chain had hash ``head_hash`` at
time ``at``", signed with Ed25519. Kept somewhere the database's administrators cannot write
(a ticket, an object store with retention, another team's inbox), it lets anyone later prove
that the rows up to ``seq`` were neither rewritten nor deleted.

The signed message is ``MESSAGE_PREFIX`` followed by the canonical JSON (sorted keys, no
whitespace, UTF-8) of ``{"algorithm", "at", "head_hash", "project", "seq"}``; keys travel as
standard base64 of their 32 raw bytes, the signature as base64 of its 64 bytes. Any Ed25519
library can check it with that description alone.

``cryptography`` is imported lazily: the SDK and a CLI-only install never load it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from promptstage.errors import ConfigurationError, InvalidInputError

from .canonical import canonical_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "ed25519"
MESSAGE_PREFIX = b"promptstage audit checkpoint v1\n"
SIGNING_KEY_ENV = "PROMPTSTAGE_AUDIT_SIGNING_KEY"
_KEY_BYTES = 32
_SIGNATURE_BYTES = 64


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head, exactly as exported to a file or returned by the API."""

    project: str
    seq: int
    head_hash: str
    at: str
    signature: str
    public_key: str
    algorithm: str = ALGORITHM

    def to_json(self) -> dict[str, Any]:
        """The checkpoint document (the fields of this class)."""
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        """Read a checkpoint document, checking every field's type.

        Raises:
            InvalidInputError: a field is missing or of the wrong type (``field`` names it).
        """
        if not isinstance(doc, dict):
            raise InvalidInputError("a checkpoint must be a JSON object", field="checkpoint")
        values: dict[str, Any] = {}
        for name, kind in (("project", str), ("seq", int), ("head_hash", str), ("at", str),
                           ("signature", str), ("public_key", str), ("algorithm", str)):  # fmt: skip
            value = doc.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidInputError(
                    f"checkpoint field {name!r} must be a {kind.__name__}; export the "
                    "checkpoint again with `promptstage audit checkpoint`",
                    field=name,
                )
            values[name] = value
        if values["seq"] < 0:
            raise InvalidInputError("checkpoint field 'seq' must be 0 or more", field="seq")
        return cls(**values)


def signed_message(project: str, seq: int, head_hash: str, at: str) -> bytes:
    """The bytes an Ed25519 checkpoint signature covers."""
    body = {
        "algorithm": ALGORITHM,
        "at": at,
        "head_hash": head_hash,
        "project": project,
        "seq": seq,
    }
    return MESSAGE_PREFIX + canonical_json(body)


def sign_checkpoint(
    private_key: str, *, project: str, seq: int, head_hash: str, at: str
) -> Checkpoint:
    """Sign the chain head with a base64 raw Ed25519 private key.

    Args:
        private_key: base64 of the 32-byte raw private key (``PROMPTSTAGE_AUDIT_SIGNING_KEY``).
        project: the project whose chain this is.
        seq: the head row's sequence number (0 for an empty chain).
        head_hash: the head row's hash (``GENESIS`` for an empty chain).
        at: when the checkpoint was made, ISO-8601 UTC.

    Raises:
        ConfigurationError: the key is not base64 of 32 bytes, or ``cryptography`` is missing.
    """
    key = load_private_key(private_key)
    signature = key.sign(signed_message(project, seq, head_hash, at))
    return Checkpoint(
        project=project, seq=seq, head_hash=head_hash, at=at,
        signature=_b64(signature), public_key=_public_b64(key),
    )  # fmt: skip


def verify_checkpoint(checkpoint: Checkpoint, public_key: str | None = None) -> None:
    """Check a checkpoint's signature with ``public_key``, or the key it embeds.

    Only a pinned ``public_key`` (one obtained separately from the server's operators) proves
    who signed; the embedded key alone only proves the document was not altered after signing.

    Raises:
        InvalidInputError: wrong algorithm, malformed key or signature, a pinned key that is not
            the embedded one, or a signature that does not verify.
        ConfigurationError: ``cryptography`` is not installed.
    """
    if checkpoint.algorithm != ALGORITHM:
        raise InvalidInputError(
            f"checkpoint algorithm is {checkpoint.algorithm!r}; only {ALGORITHM!r} is supported",
            field="algorithm",
        )
    if public_key is not None and public_key.strip() != checkpoint.public_key:
        raise InvalidInputError(
            f"the checkpoint was signed by key {fingerprint(checkpoint.public_key)}, not by the "
            f"pinned key {fingerprint(public_key)}",
            field="public_key",
        )
    raw_key = _decode(checkpoint.public_key, "public_key", _KEY_BYTES)
    raw_signature = _decode(checkpoint.signature, "signature", _SIGNATURE_BYTES)
    _require_crypto()
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    message = signed_message(
        checkpoint.project, checkpoint.seq, checkpoint.head_hash, checkpoint.at
    )
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(raw_signature, message)
    except InvalidSignature:
        raise InvalidInputError(
            "the checkpoint signature does not verify: the file was altered after signing "
            "or signed with another key",
            field="signature",
        ) from None


def generate_private_key() -> str:
    """A new random Ed25519 private key as base64 of its 32 raw bytes."""
    _require_crypto()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _b64(_raw_private(Ed25519PrivateKey.generate()))


def public_key_of(private_key: str) -> str:
    """The base64 raw public key belonging to a base64 raw private key.

    Raises:
        ConfigurationError: the private key is not base64 of 32 bytes.
    """
    return _public_b64(load_private_key(private_key))


def load_private_key(private_key: str) -> Ed25519PrivateKey:
    """Parse base64 of a 32-byte raw Ed25519 private key.

    Raises:
        ConfigurationError: it is not one (names ``PROMPTSTAGE_AUDIT_SIGNING_KEY``), or
            ``cryptography`` is not installed.
    """
    try:
        raw = base64.b64decode(private_key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise ConfigurationError(
            f"{SIGNING_KEY_ENV} must be the base64 of a 32-byte raw Ed25519 private key; "
            "generate one with `promptstage audit keygen`",
            field=SIGNING_KEY_ENV,
        )
    _require_crypto()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(raw)


def fingerprint(public_key: str) -> str:
    """A short, stable name for a base64 public key: ``sha256:`` and 16 hex digits."""
    return (
        "sha256:" + hashlib.sha256(public_key.strip().encode("ascii", "replace")).hexdigest()[:16]
    )


def _decode(value: str, field: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise InvalidInputError(
            f"checkpoint field {field!r} must be the base64 of {size} bytes", field=field
        )
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _public_b64(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _b64(raw)


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _require_crypto() -> None:
    """Raise a clear ``ConfigurationError`` when ``cryptography`` is not installed."""
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "audit checkpoints need the 'cryptography' package: pip install 'promptstage[server]'",
            field="cryptography",
        ) from None
