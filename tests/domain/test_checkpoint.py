"""Signed checkpoints (domain/checkpoint.py): sign, verify, and every way to reject one."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from promptstage.domain.checkpoint import (
    Checkpoint,
    fingerprint,
    generate_private_key,
    public_key_of,
    sign_checkpoint,
    signed_message,
    verify_checkpoint,
)
from promptstage.errors import ConfigurationError, InvalidInputError

HEAD = "sha256:" + "ab" * 32
AT = "2026-03-01T09:00:00.000000Z"


def _signed(key: str) -> Checkpoint:
    return sign_checkpoint(key, project="clinic", seq=42, head_hash=HEAD, at=AT)


def test_sign_and_verify_round_trip() -> None:
    key = generate_private_key()
    cp = _signed(key)
    assert (cp.project, cp.seq, cp.head_hash, cp.at, cp.algorithm) == (
        "clinic",
        42,
        HEAD,
        AT,
        "ed25519",
    )
    assert cp.public_key == public_key_of(key)
    verify_checkpoint(cp)
    verify_checkpoint(cp, public_key_of(key))
    assert Checkpoint.from_json(cp.to_json()) == cp


def test_the_signature_is_plain_ed25519_over_the_documented_message() -> None:
    cp = _signed(generate_private_key())
    message = (
        b'promptstage audit checkpoint v1\n{"algorithm":"ed25519","at":"' + AT.encode()
        + b'","head_hash":"' + HEAD.encode() + b'","project":"clinic","seq":42}'
    )  # fmt: skip
    assert signed_message("clinic", 42, HEAD, AT) == message
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(cp.public_key))
    public.verify(base64.b64decode(cp.signature), message)  # any Ed25519 library can check it


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seq": 41}, "signature"),
        ({"head_hash": "sha256:" + "cd" * 32}, "signature"),
        ({"project": "other"}, "signature"),
        ({"at": "2027-01-01T00:00:00.000000Z"}, "signature"),
        ({"signature": base64.b64encode(b"x" * 64).decode()}, "signature"),
        ({"signature": "not base64!"}, "signature"),
        ({"public_key": "AAAA"}, "public_key"),
        ({"algorithm": "rsa"}, "algorithm"),
    ],
)
def test_altered_checkpoints_are_rejected(change: dict[str, object], field: str) -> None:
    cp = dataclasses.replace(_signed(generate_private_key()), **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError) as raised:
        verify_checkpoint(cp)
    assert raised.value.field == field


def test_a_checkpoint_re_signed_by_another_key_fails_the_pinned_key() -> None:
    ours, theirs = generate_private_key(), generate_private_key()
    forged = _signed(theirs)
    verify_checkpoint(forged)  # self-consistent: the embedded key alone proves little
    with pytest.raises(InvalidInputError) as raised:
        verify_checkpoint(forged, public_key_of(ours))
    assert raised.value.field == "public_key"
    assert fingerprint(public_key_of(ours)) in raised.value.message


@pytest.mark.parametrize("bad", ["", "abc", base64.b64encode(b"k" * 31).decode(), "!!!!"])
def test_a_bad_signing_key_names_the_setting(bad: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _signed(bad)
    assert raised.value.field == "PROMPTSTAGE_AUDIT_SIGNING_KEY"
    assert "promptstage audit keygen" in raised.value.message


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "checkpoint"),
        ({"seq": 1}, "project"),
        ({"project": "p", "seq": "1"}, "seq"),
        ({"project": "p", "seq": True}, "seq"),
    ],
)
def test_malformed_documents_name_the_field(doc: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        Checkpoint.from_json(doc)
    assert raised.value.field == field
