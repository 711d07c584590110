"""API keys are compared in constant time: ``hmac.compare_digest``, never ``==``."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from promptstage.errors import AuthenticationError
from promptstage.service import keys
from promptstage.service.demo import PROJECT, seed_demo
from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call


def test_every_secret_comparison_goes_through_compare_digest(
    make_clocked_app: Callable[..., FastAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = make_clocked_app()
    seed_demo(app.state.ctx)
    _, token = keys.create_key(app.state.ctx, "test", PROJECT, "ct", "editor")
    prefix, secret = token.split("_")[1:]
    authenticator = app.state.authenticator
    real = hmac.compare_digest
    calls: list[tuple[object, object]] = []

    def counting(a: bytes | str, b: bytes | str) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(hmac, "compare_digest", counting)

    assert authenticator.authenticate(ADMIN_KEY).actor == keys.INSTANCE_ADMIN
    assert calls, "the instance admin key must be compared with hmac.compare_digest"

    calls.clear()
    assert authenticator.authenticate(token).project == PROJECT
    assert (keys.hash_secret(secret), keys.hash_secret(secret)) in calls

    calls.clear()
    wrong = "f" * len(secret)
    with pytest.raises(AuthenticationError):
        authenticator.authenticate(f"ps_{prefix}_{wrong}")
    assert (keys.hash_secret(wrong), keys.hash_secret(secret)) in calls


def test_the_admin_keys_secret_is_compared_in_constant_time_under_its_prefix(
    make_clocked_app: Callable[..., FastAPI],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the (public) prefix picks the admin key; its secret, right or wrong, is compared
    with ``compare_digest``, and a wrong one is refused."""
    authenticator = make_clocked_app().state.authenticator
    prefix, secret = ADMIN_KEY.split("_")[1:]
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def counting(a: bytes | str, b: bytes | str) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(hmac, "compare_digest", counting)
    wrong = ("0" if secret[0] != "0" else "1") + secret[1:]
    with pytest.raises(AuthenticationError):
        authenticator.authenticate(f"ps_{prefix}_{wrong}")
    assert (wrong.encode(), secret.encode()) in calls
