"""The audit trail, filtered and paginated on the server, and the chain verification."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from promptstage.domain.audit import AuditFilter
from promptstage.domain.events import AuditAction
from promptstage.domain.models import AuditRecord, Role
from promptstage.errors import InvalidInputError
from promptstage.service import access, audit, evidence

from ..session import Viewer, acting, config
from ..templating import is_htmx, render

router = APIRouter()

PAGE = 50
FILTERS = ("actor", "action", "prompt", "since", "until")
Text = Annotated[str, Query(max_length=200)]


def pretty(value: Any) -> str:
    """A JSON value as indented text (escaped by the template like any other text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def page_url(base: str, filters: dict[str, str], cursor: str | None = None) -> str:
    """The URL of a page of a filtered list: the filters that are set, and the cursor."""
    query = {k: v for k, v in filters.items() if v}
    if cursor:
        query["cursor"] = cursor
    return base + ("?" + urlencode(query) if query else "")


def _row(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "at": record.at,
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "reason": record.reason,
        "before": None if record.before is None else pretty(record.before),
        "after": None if record.after is None else pretty(record.after),
    }


def _where(filters: dict[str, str]) -> AuditFilter:
    """The filter the form asked for (empty fields do not filter).

    Raises:
        InvalidInputError: naming ``since`` or ``until`` (not a date or date-time).
    """
    return AuditFilter(
        actor=filters["actor"].strip() or None,
        action=filters["action"] or None,
        prompt=filters["prompt"].strip() or None,
        since=evidence.parse_bound(filters["since"] or None, "since"),
        until=evidence.parse_bound(filters["until"] or None, "until"),
    )


@router.get("/p/{project}/audit")
def audit_page(
    request: Request,
    project: str,
    user: Viewer,
    actor: Text = "",
    action: Text = "",
    prompt: Text = "",
    since: Text = "",
    until: Text = "",
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    access.check(acting(user, project), project, Role.editor)
    filters = {"actor": actor, "action": action, "prompt": prompt, "since": since, "until": until}
    base = f"/ui/p/{project}/audit"
    errors: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    next_cursor = None
    try:
        records, next_cursor = audit.list_audit(
            config(request).ctx, project, PAGE, cursor or None, _where(filters)
        )
        rows = [_row(r) for r in records]
    except InvalidInputError as exc:
        errors[exc.field or "actor"] = exc.message
    return render(
        request,
        "audit.html",
        status_code=422 if errors else 200,
        project=project,
        nav="audit",
        filters=filters,
        errors=errors,
        actions=[a.value for a in AuditAction],
        rows=rows,
        first_url=page_url(base, filters) if cursor else None,
        next_url=page_url(base, filters, next_cursor) if next_cursor else None,
    )


@router.get("/p/{project}/audit/verify")
def verify_page(request: Request, project: str, user: Viewer) -> Response:
    """Walk the whole chain (reads only) and show the result."""
    access.check(acting(user, project), project, Role.editor)
    report = audit.verify(config(request).ctx, project)
    template = "_audit_verify.html" if is_htmx(request) else "audit_verify.html"
    return render(
        request,
        template,
        project=project,
        nav="audit",
        report=report,
        checked_at=config(request).ctx.clock(),
    )
