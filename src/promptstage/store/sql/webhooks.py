"""Webhooks and the deliveries outbox the background worker sends from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from promptstage.domain.webhooks import PENDING, Delivery, Webhook

from .tables import webhook_deliveries, webhooks
from .uow_base import UnitOfWorkBase, utc


def _to_webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        project=row.project,
        url=row.url,
        events=tuple(row.events),
        secret=row.secret,
        created_at=row.created_at,
        created_by=row.created_by,
        cursor_seq=int(row.cursor_seq),
    )


def _to_delivery(row: Any) -> Delivery:
    return Delivery(
        id=int(row.id),
        webhook_id=row.webhook_id,
        project=row.project,
        event_seq=int(row.event_seq),
        event_type=row.event_type,
        body=row.body,
        state=row.state,
        attempts=tuple(row.attempts),
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


class WebhooksRepository(UnitOfWorkBase):
    """Webhook subscriptions and their deliveries."""

    def add_webhook(self, hook: Webhook) -> None:
        """Insert a webhook."""
        self._require_write("add_webhook")
        self._insert(
            webhooks.insert().values(
                id=hook.id,
                project=hook.project,
                url=hook.url,
                events=list(hook.events),
                secret=hook.secret,
                created_at=utc(hook.created_at),
                created_by=hook.created_by,
                cursor_seq=hook.cursor_seq,
            ),
            conflict=f"a webhook with id {hook.id!r} already exists",
            missing=self._project_missing(hook.project),
        )

    def get_webhook(self, project: str, webhook_id: str) -> Webhook | None:
        """One webhook of the project, or ``None``."""
        stmt = select(webhooks).where(webhooks.c.project == project, webhooks.c.id == webhook_id)
        row = self._conn.execute(stmt).first()
        return None if row is None else _to_webhook(row)

    def list_webhooks(self, project: str | None) -> list[Webhook]:
        """Webhooks of ``project`` oldest first; ``None``: of every project."""
        stmt = select(webhooks)
        if project is not None:
            stmt = stmt.where(webhooks.c.project == project)
        stmt = stmt.order_by(webhooks.c.created_at, webhooks.c.id)
        return [_to_webhook(row) for row in self._conn.execute(stmt)]

    def delete_webhook(self, project: str, webhook_id: str) -> bool:
        """Remove a webhook and its deliveries; ``False`` when it did not exist."""
        self._require_write("delete_webhook")
        self._conn.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
        )
        result = self._conn.execute(
            delete(webhooks).where(webhooks.c.project == project, webhooks.c.id == webhook_id)
        )
        return bool(result.rowcount)

    def set_webhook_cursor(self, webhook_id: str, seq: int) -> None:
        """Record that every event up to ``seq`` has been turned into deliveries."""
        self._require_write("set_webhook_cursor")
        self._conn.execute(
            update(webhooks).where(webhooks.c.id == webhook_id).values(cursor_seq=seq)
        )

    def add_delivery(self, delivery: Delivery) -> None:
        """Queue a delivery; a second one for the same (webhook, event) is ignored."""
        self._require_write("add_delivery")
        values = {
            "webhook_id": delivery.webhook_id,
            "project": delivery.project,
            "event_seq": delivery.event_seq,
            "event_type": delivery.event_type,
            "body": delivery.body,
            "state": delivery.state,
            "attempts": list(delivery.attempts),
            "next_attempt_at": utc(delivery.next_attempt_at) if delivery.next_attempt_at else None,
            "created_at": utc(delivery.created_at),
            "delivered_at": None,
        }
        if self._conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt: Any = pg_insert(webhook_deliveries).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(webhook_deliveries).on_conflict_do_nothing()
        self._conn.execute(stmt.values(values))

    def due_deliveries(self, now: datetime, *, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        stmt = (
            select(webhook_deliveries)
            .where(
                webhook_deliveries.c.state == PENDING,
                webhook_deliveries.c.next_attempt_at <= utc(now),
            )
            .order_by(webhook_deliveries.c.id)
            .limit(limit)
        )
        return [_to_delivery(row) for row in self._conn.execute(stmt)]

    def update_delivery(self, delivery: Delivery) -> None:
        """Write a delivery's state, attempts and next attempt time."""
        self._require_write("update_delivery")
        self._conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(
                state=delivery.state,
                attempts=list(delivery.attempts),
                next_attempt_at=utc(delivery.next_attempt_at) if delivery.next_attempt_at else None,
                delivered_at=utc(delivery.delivered_at) if delivery.delivered_at else None,
            )
        )

    def list_deliveries(self, webhook_id: str, *, limit: int, before: int | None) -> list[Delivery]:
        """A webhook's deliveries newest first, starting below id ``before``."""
        stmt = select(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
        if before is not None:
            stmt = stmt.where(webhook_deliveries.c.id < before)
        stmt = stmt.order_by(webhook_deliveries.c.id.desc()).limit(limit)
        return [_to_delivery(row) for row in self._conn.execute(stmt)]
