"""Passwords of UI users: the policy a new password must meet, and argon2id hashing.

argon2-cffi's ``PasswordHasher`` defaults to argon2id with the RFC 9106 low-memory profile.
An unknown user's sign-in still spends one verification (against a hash of a random password),
so the time a refusal takes does not tell which names exist.
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from promptstage.errors import InvalidInputError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the work one sign-in can ask of the hasher


@lru_cache(maxsize=1)
def hasher() -> PasswordHasher:
    """The argon2id hasher (built on first use, not at import)."""
    return PasswordHasher()


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(32))


def check_password(name: str, password: object) -> str:
    """Enforce the password policy on a new password of ``name``.

    Raises:
        InvalidInputError: naming ``password``, saying what to change.
    """
    if not isinstance(password, str):
        raise InvalidInputError("password must be a string", field="password")
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(
            f"password must be at least {MIN_LENGTH} characters long (got {len(password)}); "
            "a passphrase of a few words is easiest",
            field="password",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(
            f"password must be at most {MAX_LENGTH} characters long", field="password"
        )
    if len(set(password)) == 1:
        raise InvalidInputError(
            "password must not repeat one character; pick a passphrase", field="password"
        )
    if password.casefold() == name.casefold():
        raise InvalidInputError("password must not be the user's name", field="password")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return hasher().hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with ``stored=None`` (no such user) verify
    against a decoy hash anyway and answer ``False``, taking the same time."""
    try:
        ok = hasher().verify(stored if stored is not None else _decoy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with weaker parameters than the hasher's current ones."""
    try:
        return hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def generate() -> str:
    """A random password that meets the policy (for the demo users)."""
    return secrets.token_urlsafe(18)
