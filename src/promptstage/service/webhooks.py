"""Webhooks: signed notifications of label moves, release changes and rollbacks.

Deliveries follow the outbox pattern twice over. A change commits its event row with the change
(``Change.record``); the :class:`WebhookSender`, running in the background on the leader
replica, turns new events into ``webhook_deliveries`` rows (a cursor per webhook, advanced in
the same transaction) and sends due deliveries outside any transaction. A failed attempt is
retried with exponential backoff (``backoff * 2**(attempt-1)``) up to ``max_attempts``; every
attempt is stored and listed by ``GET /webhooks/{id}/deliveries``.

Each request is ``POST <url>`` with the JSON body ``{"type", "project", "seq", "at", "data"}``
and the headers ``X-Promptstage-Event``, ``X-Promptstage-Delivery`` and
``X-Promptstage-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import socket
import time
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from promptstage.domain.events import AuditAction
from promptstage.domain.models import iso_utc
from promptstage.domain.webhooks import (
    DELIVERED,
    DELIVERY_HEADER,
    EVENT_HEADER,
    FAILED,
    PENDING,
    SIGNATURE_HEADER,
    WEBHOOK_EVENTS,
    Delivery,
    HostPolicy,
    Webhook,
    signature_header,
    subscriptions_of,
)
from promptstage.domain.wire import webhook_json
from promptstage.errors import InvalidInputError, NotFoundError, PromptstageError
from promptstage.store.base import Leadership

from .context import Context, change
from .pagination import check_limit, decode_cursor, page
from .prompts import require_project

DEFAULT_POLICY: Final = HostPolicy()

log = logging.getLogger("promptstage.webhooks")

MAX_URL: Final = 2000
MAX_WEBHOOKS: Final = 50
EVENT_BATCH: Final = 500
SEND_BATCH: Final = 100


def _url(value: Any) -> str:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        _ = parts.port if parts is not None else None  # raises for a port out of range
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if (
        parts is None
        or len(value) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise InvalidInputError(
            f"url must be an http:// or https:// URL of at most {MAX_URL} characters, "
            "e.g. https://hooks.example.com/promptstage",
            field="url",
        )
    return str(value)


def _events(value: Any) -> tuple[str, ...]:
    if value is None:
        return WEBHOOK_EVENTS
    if not isinstance(value, list) or not value:
        raise InvalidInputError(
            f"events must be a non-empty list drawn from {', '.join(WEBHOOK_EVENTS)} "
            "(omit it for all)",
            field="events",
        )
    for i, name in enumerate(value):
        if name not in WEBHOOK_EVENTS:
            raise InvalidInputError(
                f"events[{i}]: unknown event {name!r}; use one of {', '.join(WEBHOOK_EVENTS)}",
                field=f"events[{i}]",
            )
    return tuple(dict.fromkeys(value))


def _secret(value: Any) -> str:
    if value is None:
        return f"whsec_{secrets.token_hex(24)}"
    if not isinstance(value, str) or not 16 <= len(value) <= 200 or not value.isprintable():
        raise InvalidInputError(
            "secret must be 16-200 printable characters (omit it to have one generated)",
            field="secret",
        )
    return value


def create_webhook(
    ctx: Context,
    actor: str,
    project: str,
    *,
    url: Any,
    events: Any = None,
    secret: Any = None,
    policy: HostPolicy = DEFAULT_POLICY,
) -> Webhook:
    """Subscribe ``url`` to the project's changes from now on; the returned webhook holds the
    secret, which the API shows this once. ``policy`` refuses targets the SSRF guard forbids."""
    target, kinds, key = _url(url), _events(events), _secret(secret)
    refused = policy.check_host(urlsplit(target).hostname or "")
    if refused is not None:
        raise InvalidInputError(
            f"url is not allowed: {refused}; list the host in PROMPTSTAGE_WEBHOOK_ALLOWED_HOSTS "
            "to allow it",
            field="url",
        )
    with change(ctx, project, actor) as ch:
        if len(ch.uow.list_webhooks(project)) >= MAX_WEBHOOKS:
            raise InvalidInputError(
                f"project {project!r} has {MAX_WEBHOOKS} webhooks already; delete one first",
                field="url",
            )
        hook = Webhook(
            id=f"wh_{secrets.token_hex(8)}",
            project=project,
            url=target,
            events=kinds,
            secret=key,
            created_at=ch.at,
            created_by=actor,
            cursor_seq=ch.uow.last_event_seq(project),
        )
        ch.uow.add_webhook(hook)
        ch.record(
            AuditAction.WEBHOOK_CREATE, f"webhook:{hook.id}", before=None, after=webhook_json(hook)
        )
    return hook


def list_webhooks(ctx: Context, project: str) -> list[Webhook]:
    """The project's webhooks (without their secrets in any JSON form)."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return uow.list_webhooks(project)


def delete_webhook(ctx: Context, actor: str, project: str, webhook_id: str) -> None:
    """Remove a webhook and its pending and past deliveries."""
    with change(ctx, project, actor) as ch:
        hook = ch.uow.get_webhook(project, webhook_id)
        if hook is None:
            raise NotFoundError(
                f"no webhook {webhook_id!r} in project {project!r}", field="webhook_id"
            )
        ch.uow.delete_webhook(project, webhook_id)
        ch.record(
            AuditAction.WEBHOOK_DELETE, f"webhook:{hook.id}", before=webhook_json(hook), after=None
        )


def list_deliveries(
    ctx: Context, project: str, webhook_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[Delivery], str | None]:
    """A webhook's deliveries, newest first, each with every attempt."""
    check_limit(limit)
    before = decode_cursor(cursor, int)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        if uow.get_webhook(project, webhook_id) is None:
            raise NotFoundError(
                f"no webhook {webhook_id!r} in project {project!r}", field="webhook_id"
            )
        rows = uow.list_deliveries(webhook_id, limit=limit + 1, before=before)
    return page(rows, limit, lambda d: d.id)


class WebhookSender:
    """Turns new outbox events into deliveries and sends the due ones, with retries.

    Args:
        ctx: The service context (its clock timestamps attempts and signatures).
        max_attempts: Attempts before a delivery is marked ``failed``.
        backoff_seconds: Wait after the first failed attempt; doubled after each further one.
        timeout_seconds: Per-request timeout.
        transport: An ``httpx`` transport (tests); the default opens real connections.
    """

    def __init__(
        self,
        ctx: Context,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 10.0,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        policy: HostPolicy = DEFAULT_POLICY,
    ) -> None:
        self._ctx = ctx
        self._policy = policy
        self._max_attempts = max(1, max_attempts)
        self._backoff = max(0.0, backoff_seconds)
        self._http = httpx.Client(
            timeout=timeout_seconds, transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def enqueue(self) -> int:
        """Queue a delivery per webhook for every new event it subscribed to; returns how many."""
        queued = 0
        with self._ctx.store.unit_of_work() as uow:
            hooks = uow.list_webhooks(None)
            heads = {project: uow.last_event_seq(project) for project in {h.project for h in hooks}}
        for hook in hooks:
            if heads[hook.project] <= hook.cursor_seq:
                continue  # nothing new: no write transaction
            with self._ctx.store.unit_of_work(write=True) as uow:
                current = uow.get_webhook(hook.project, hook.id)
                if current is None:
                    continue
                events = uow.events_since(hook.project, current.cursor_seq, limit=EVENT_BATCH)
                now = self._ctx.clock()
                for event in events:
                    if not subscriptions_of(event.type, event.data) & set(current.events):
                        continue
                    body = json.dumps(
                        {
                            "type": event.type,
                            "project": event.project,
                            "seq": event.seq,
                            "at": iso_utc(event.at),
                            "data": event.data,
                        },
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    uow.add_delivery(
                        Delivery(
                            0,
                            hook.id,
                            hook.project,
                            event.seq,
                            event.type,
                            body,
                            PENDING,
                            (),
                            now,
                            now,
                        )
                    )
                    queued += 1
                if events:
                    uow.set_webhook_cursor(hook.id, events[-1].seq)
        return queued

    def deliver_due(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        with self._ctx.store.unit_of_work() as uow:
            due = uow.due_deliveries(self._ctx.clock(), limit=SEND_BATCH)
            hooks = {h.id: h for h in uow.list_webhooks(None)}
        for delivery in due:
            hook = hooks.get(delivery.webhook_id)
            if hook is not None:
                self._attempt(hook, delivery)
        return len(due)

    def run_once(self) -> int:
        """Queue new events, then send what is due; returns the attempts made."""
        self.enqueue()
        return self.deliver_due()

    def _attempt(self, hook: Webhook, delivery: Delivery) -> None:
        started = self._ctx.clock()
        stamp = int(started.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "promptstage-webhooks",
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: str(delivery.id),
            SIGNATURE_HEADER: signature_header(hook.secret, stamp, delivery.body),
        }
        status: int | None = None
        error: str | None = None
        clock = time.perf_counter()
        refused: str | None = None
        try:  # whatever goes wrong is this delivery's failed attempt, never the whole pass's
            refused = self._refused(hook.url)
            if refused is not None:
                error = f"refused by the SSRF guard: {refused}"
            else:
                response = self._http.post(
                    hook.url, content=delivery.body.encode(), headers=headers
                )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed_ms = round((time.perf_counter() - clock) * 1000, 1)
        attempts = (
            *delivery.attempts,
            {
                "at": iso_utc(started),
                "status": status,
                "error": error,
                "duration_ms": elapsed_ms,
            },
        )
        if error is None:
            updated = dataclasses.replace(
                delivery,
                state=DELIVERED,
                attempts=attempts,
                next_attempt_at=None,
                delivered_at=started,
            )
        elif refused is not None or len(attempts) >= self._max_attempts:
            updated = dataclasses.replace(
                delivery, state=FAILED, attempts=attempts, next_attempt_at=None
            )
            log.warning(
                "webhook %s: delivery %d failed after %d attempts (%s)",
                hook.id,
                delivery.id,
                len(attempts),
                error,
            )
        else:
            wait = self._backoff * 2 ** (len(attempts) - 1)
            updated = dataclasses.replace(
                delivery, attempts=attempts, next_attempt_at=started + timedelta(seconds=wait)
            )
        with self._ctx.store.unit_of_work(write=True) as uow:
            uow.update_delivery(updated)

    def _refused(self, url: str) -> str | None:
        """Check the addresses the target resolves to now.

        The HTTP client resolves the name again when it connects, so a name that changes its
        answer in between (DNS rebinding) is not stopped here; an allow-list
        (``PROMPTSTAGE_WEBHOOK_ALLOWED_HOSTS``) is the control for that.
        """
        parts = urlsplit(url)
        host = parts.hostname or ""
        reason = self._policy.check_host(host)
        if reason is not None or self._policy.listed(host):
            return reason
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"{host} does not resolve ({exc})"
        return self._policy.check_addresses(host, [str(info[4][0]) for info in infos])


async def run_forever(sender: WebhookSender, leadership: Leadership, interval: float) -> None:
    """Send webhooks every ``interval`` seconds while this replica holds the leadership lock."""
    while True:
        try:
            if await asyncio.to_thread(leadership.acquire):
                await asyncio.to_thread(sender.run_once)
        except PromptstageError as exc:
            log.warning("webhook pass failed: %s", exc.message)
        except Exception:
            log.exception("webhook pass failed")
        await asyncio.sleep(max(interval, 0.05))  # never a busy loop
