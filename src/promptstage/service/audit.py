"""Reading and verifying the audit trail."""

from __future__ import annotations

from promptstage.domain.audit import ChainReport, verify_chain
from promptstage.domain.models import AuditRecord

from .context import Context
from .pagination import check_limit, decode_cursor, page
from .prompts import require_project


def list_audit(ctx: Context, project: str, limit: int = 100, cursor: str | None = None) -> tuple[list[AuditRecord], str | None]:
    check_limit(limit)
    before = decode_cursor(cursor, int)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.list_audit(project, limit=limit + 1, before=before)
    return page(rows, limit, lambda r: r.seq)


def verify(ctx: Context, project: str) -> ChainReport:
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return verify_chain(uow.iter_audit(project))
