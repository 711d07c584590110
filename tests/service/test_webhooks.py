"""Webhooks: subscriptions, the deliveries outbox, signing, retries with backoff."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from promptstage.domain.webhooks import (
    SIGNATURE_HEADER,
    HostPolicy,
    sign,
    subscriptions_of,
    verify,
)
from promptstage.errors import InvalidInputError, NotFoundError
from promptstage.service import labels, releases, webhooks
from promptstage.service.context import Context
from support import releases as releases_helpers
from support.receiver import Receiver, receiver
from support.releases import PROJECT, PROMPT, USER, FakeClock

# The releases fixtures (tests/support/releases.py), resolved here before this folder's conftest.
releases_sqlite_template = releases_helpers.releases_sqlite_template
releases_postgres_url = releases_helpers.releases_postgres_url
release_store = releases_helpers.release_store
clock = releases_helpers.clock
ctx = releases_helpers.ctx
published = releases_helpers.published
seeded = releases_helpers.seeded

LOOPBACK = HostPolicy(("127.0.0.1",))  # the receiver listens on loopback, which the guard refuses


@pytest.fixture
def hook_server() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def sender(ctx: Context, **kwargs: Any) -> webhooks.WebhookSender:
    options: dict[str, Any] = {
        "max_attempts": 3,
        "backoff_seconds": 10.0,
        "timeout_seconds": 5.0,
        "policy": LOOPBACK,
    }
    options.update(kwargs)
    return webhooks.WebhookSender(ctx, **options)


def test_signature_round_trip_and_tampering() -> None:
    header = f"t=1700000000,v1={sign('s3cret-s3cret-s3cret', 1700000000, '{}')}"
    assert verify("s3cret-s3cret-s3cret", header, "{}", now=1700000100)
    assert not verify("s3cret-s3cret-s3cret", header, "{ }", now=1700000100)
    assert not verify("another-secret-value", header, "{}", now=1700000100)
    assert not verify("s3cret-s3cret-s3cret", header, "{}", now=1700009999)  # too old
    assert not verify("s3cret-s3cret-s3cret", "garbage", "{}", now=1700000000)


def test_event_names_a_webhook_can_subscribe_to() -> None:
    assert subscriptions_of("label.moved", {"kind": "move"}) == {"label.moved"}
    assert subscriptions_of("label.moved", {"kind": "rollback"}) == {
        "label.moved",
        "label.rolled_back",
    }
    assert subscriptions_of("release.changed", {"release": {"state": "rolled_back"}}) == {
        "release.changed",
        "release.rolled_back",
    }
    assert subscriptions_of("version.created", {}) == frozenset()


def test_delivery_is_signed_and_retried_with_backoff(
    seeded: Context, clock: FakeClock, hook_server: Receiver
) -> None:
    hook = webhooks.create_webhook(seeded, USER, PROJECT, url=hook_server.url, policy=LOOPBACK)
    assert hook.secret.startswith("whsec_") and hook.events[0] == "label.moved"
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3, reason="ship v3")
    hook_server.statuses = [500, 503]
    out = sender(seeded)
    try:
        assert out.enqueue() == 1
        assert out.enqueue() == 0  # the cursor moved on
        assert out.deliver_due() == 1  # 500
        assert out.deliver_due() == 0  # not due before the backoff
        clock.advance(10)
        assert out.deliver_due() == 1  # 503
        clock.advance(19)
        assert out.deliver_due() == 0  # second wait is 20 s
        clock.advance(1)
        assert out.deliver_due() == 1  # 200
    finally:
        out.close()
    assert len(hook_server.received) == 3
    got = hook_server.received[-1]
    assert got.headers["X-Promptstage-Event"] == "label.moved"
    assert verify(hook.secret, got.headers[SIGNATURE_HEADER], got.body, now=clock.now.timestamp())
    body = json.loads(got.body)
    assert body["type"] == "label.moved" and body["project"] == PROJECT
    assert body["data"]["version"] == 3 and body["data"]["previous"] == 1
    (delivery,), _ = webhooks.list_deliveries(seeded, PROJECT, hook.id)
    assert delivery.state == "delivered" and delivery.delivered_at == clock.now
    assert [a["status"] for a in delivery.attempts] == [500, 503, 200]
    assert [a["error"] for a in delivery.attempts] == ["HTTP 500", "HTTP 503", None]


def test_a_delivery_fails_after_the_last_attempt(seeded: Context, clock: FakeClock) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = webhooks.create_webhook(
        seeded, USER, PROJECT, url=f"http://127.0.0.1:{port}/x", secret="x" * 20, policy=LOOPBACK
    )
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 2)
    out = sender(seeded, max_attempts=2, backoff_seconds=1)
    try:
        out.run_once()
        clock.advance(1)
        out.run_once()
        clock.advance(100)
        assert out.run_once() == 0
    finally:
        out.close()
    (delivery,), _ = webhooks.list_deliveries(seeded, PROJECT, hook.id)
    assert delivery.state == "failed" and delivery.next_attempt_at is None
    assert len(delivery.attempts) == 2 and "ConnectError" in delivery.attempts[0]["error"]


def test_only_subscribed_events_are_delivered(seeded: Context, hook_server: Receiver) -> None:
    hook = webhooks.create_webhook(
        seeded, USER, PROJECT, url=hook_server.url, events=["release.rolled_back"], policy=LOOPBACK
    )
    r = releases.start_release(
        seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2, strategy="canary"
    )
    releases.act(seeded, USER, PROJECT, r.id, "pause")
    releases.act(seeded, USER, PROJECT, r.id, "rollback", reason="too many complaints")
    out = sender(seeded)
    try:
        assert out.run_once() == 1
    finally:
        out.close()
    (got,) = hook_server.received
    data = json.loads(got.body)["data"]
    assert data["release"]["state"] == "rolled_back" and data["release"]["id"] == r.id
    assert data["reason"] == "too many complaints" and data["action"] == "rollback"
    (delivery,), _ = webhooks.list_deliveries(seeded, PROJECT, hook.id)
    assert delivery.event_type == "release.changed"


def test_a_new_webhook_does_not_replay_old_events(seeded: Context, hook_server: Receiver) -> None:
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 2)
    webhooks.create_webhook(seeded, USER, PROJECT, url=hook_server.url, policy=LOOPBACK)
    out = sender(seeded)
    try:
        assert out.enqueue() == 0
    finally:
        out.close()


def test_delete_and_list(seeded: Context, hook_server: Receiver) -> None:
    hook = webhooks.create_webhook(
        seeded, USER, PROJECT, url=hook_server.url, secret="a-secret-of-16-chars", policy=LOOPBACK
    )
    assert hook.secret == "a-secret-of-16-chars"
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 2)
    out = sender(seeded)
    try:
        out.enqueue()
    finally:
        out.close()
    assert [h.id for h in webhooks.list_webhooks(seeded, PROJECT)] == [hook.id]
    webhooks.delete_webhook(seeded, USER, PROJECT, hook.id)
    assert webhooks.list_webhooks(seeded, PROJECT) == []
    with pytest.raises(NotFoundError):
        webhooks.list_deliveries(seeded, PROJECT, hook.id)
    with pytest.raises(NotFoundError):
        webhooks.delete_webhook(seeded, USER, PROJECT, hook.id)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http:///nohost"}, "url"),
        ({"url": "https://example.com/a b"}, "url"),
        ({"url": "http://hooks.example.com:99999/x"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"url": "https://example.com", "events": ["label.exploded"]}, "events[0]"),
        ({"url": "https://example.com", "events": []}, "events"),
        ({"url": "https://example.com", "secret": "short"}, "secret"),
    ],
)
def test_bad_webhooks_are_refused(seeded: Context, args: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhooks.create_webhook(seeded, USER, PROJECT, **args)
    assert caught.value.field == field
    assert webhooks.list_webhooks(seeded, PROJECT) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.0.0.8/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ],
)
def test_private_targets_are_refused_unless_listed(seeded: Context, url: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        webhooks.create_webhook(seeded, USER, PROJECT, url=url)
    assert (
        caught.value.field == "url" and "PROMPTSTAGE_WEBHOOK_ALLOWED_HOSTS" in caught.value.message
    )
    assert webhooks.list_webhooks(seeded, PROJECT) == []


def test_an_allow_list_admits_only_its_hosts(seeded: Context) -> None:
    policy = HostPolicy.parse("hooks.example.com, *.corp.example")
    webhooks.create_webhook(seeded, USER, PROJECT, url="https://hooks.example.com/a", policy=policy)
    webhooks.create_webhook(seeded, USER, PROJECT, url="https://ci.corp.example/a", policy=policy)
    with pytest.raises(InvalidInputError):
        webhooks.create_webhook(
            seeded, USER, PROJECT, url="https://other.example.com/a", policy=policy
        )


def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    seeded: Context, hook_server: Receiver
) -> None:
    port = hook_server.url.split(":")[2].split("/")[0]
    listed = HostPolicy(("localhost",))
    hook = webhooks.create_webhook(
        seeded, USER, PROJECT, url=f"http://localhost:{port}/hook", policy=listed
    )
    labels.move_label(seeded, USER, PROJECT, PROMPT, "staging", 1)
    guarded = sender(seeded, policy=HostPolicy())  # no allow-list: localhost resolves to loopback
    guarded.run_once()
    guarded.close()
    assert hook_server.received == []
    [delivery] = webhooks.list_deliveries(seeded, PROJECT, hook.id)[0]
    assert delivery.state == "failed" and "SSRF guard" in delivery.attempts[-1]["error"]
