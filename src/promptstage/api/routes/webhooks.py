"""Webhooks: signed notifications of label moves, release changes and rollbacks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from promptstage.api.deps import Admin, Limit, ctx
from promptstage.api.inputs import check_params
from promptstage.api.schemas import Body
from promptstage.domain.webhooks import WEBHOOK_EVENTS, HostPolicy
from promptstage.domain.wire import delivery_json, webhook_json
from promptstage.service import webhooks as svc

router = APIRouter(
    prefix="/api/v1/projects/{project}", tags=["webhooks"], dependencies=[Depends(check_params)]
)


class WebhookIn(Body):
    url: str = Field(
        description="http:// or https:// URL to POST to",
        examples=["https://hooks.example.com/promptstage"],
    )
    events: list[str] | None = Field(
        default=None, description=f"Subset of {', '.join(WEBHOOK_EVENTS)}; omitted: all"
    )
    secret: str | None = Field(
        default=None,
        description="HMAC secret (16-200 characters); omitted: generated and shown once",
    )


@router.post(
    "/webhooks",
    status_code=201,
    summary="Subscribe a URL to label moves, release changes and rollbacks",
)
def create(project: str, body: WebhookIn, who: Admin, request: Request) -> dict[str, Any]:
    policy = HostPolicy.parse(request.app.state.settings.webhook_allowed_hosts)
    hook = svc.create_webhook(
        ctx(request),
        who.actor,
        project,
        url=body.url,
        events=body.events,
        secret=body.secret,
        policy=policy,
    )
    return {**webhook_json(hook), "secret": hook.secret}


@router.get("/webhooks", summary="The project's webhooks (secrets are never shown again)")
def list_webhooks(project: str, who: Admin, request: Request) -> dict[str, Any]:
    return {
        "items": [webhook_json(h) for h in svc.list_webhooks(ctx(request), project)],
        "next_cursor": None,
    }


@router.delete("/webhooks/{webhook_id}", summary="Remove a webhook and its deliveries")
def delete(project: str, webhook_id: str, who: Admin, request: Request) -> dict[str, Any]:
    svc.delete_webhook(ctx(request), who.actor, project, webhook_id)
    return {"id": webhook_id, "deleted": True}


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="Deliveries of a webhook with every attempt, newest first",
)
def deliveries(
    project: str,
    webhook_id: str,
    who: Admin,
    request: Request,
    limit: Limit = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_deliveries(ctx(request), project, webhook_id, limit, cursor)
    return {"items": [delivery_json(d) for d in items], "next_cursor": next_cursor}
