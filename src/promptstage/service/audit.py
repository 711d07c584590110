"""Reading the audit trail, verifying its hash chain and signing checkpoints of its head."""

from __future__ import annotations

import dataclasses

from promptstage.domain.audit import Anchor, AuditFilter, ChainReport, verify_chain
from promptstage.domain.checkpoint import SIGNING_KEY_ENV, Checkpoint, sign_checkpoint
from promptstage.domain.events import AuditAction
from promptstage.domain.models import AuditRecord, iso_utc
from promptstage.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    ServiceUnavailableError,
)

from .context import Context
from .pagination import check_limit, decode_cursor, page, utc_bound
from .prompts import require_project


def list_audit(
    ctx: Context,
    project: str,
    limit: int = 100,
    cursor: str | None = None,
    where: AuditFilter | None = None,
) -> tuple[list[AuditRecord], str | None]:
    """One page of the audit trail, newest first, filtered by ``where``.

    Returns:
        The rows and the cursor of the next page (``None`` on the last one).

    Raises:
        InvalidInputError: naming ``action`` (not an audit action), ``until`` (not after
            ``since``), ``limit`` or ``cursor``.
    """
    check_limit(limit)
    before = decode_cursor(cursor, int)
    if where is not None:
        where = check_audit_filter(where)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.list_audit(project, limit=limit + 1, before=before, where=where)
    return page(rows, limit, lambda r: r.seq)


def check_audit_filter(where: AuditFilter) -> AuditFilter:
    """Validate a filter: a known action, and bounds in order (a bare time means UTC).

    Raises:
        InvalidInputError: naming ``action`` or ``until``.
    """
    if where.action is not None and where.action not in {a.value for a in AuditAction}:
        raise InvalidInputError(
            f"action must be one of {', '.join(a.value for a in AuditAction)}; "
            f"got {where.action!r}",
            field="action",
        )
    since, until = utc_bound(where.since), utc_bound(where.until)
    if since is not None and until is not None and until <= since:
        raise InvalidInputError(
            "until must be after since (the range is [since, until)); swap or widen them",
            field="until",
        )
    return dataclasses.replace(where, since=since, until=until)


def verify(ctx: Context, project: str, checkpoint: Anchor | None = None) -> ChainReport:
    """Verify the project's whole chain against itself, its recorded head and a checkpoint.

    Args:
        ctx: the service context.
        project: the project whose chain to walk.
        checkpoint: ``(seq, hash)`` of a checkpoint whose signature the caller already checked;
            the chain must still hold row ``seq`` with exactly that hash.

    Raises:
        NotFoundError: no such project.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        seq, head = uow.audit_head(project)
        return verify_chain(
            uow.iter_audit(project), recorded=Anchor(seq, head), checkpoint=checkpoint
        )


def checkpoint(ctx: Context, project: str, signing_key: str | None) -> Checkpoint:
    """Sign the project's current chain head, after verifying the chain up to it.

    Args:
        ctx: the service context.
        project: the project whose head to sign.
        signing_key: ``PROMPTSTAGE_AUDIT_SIGNING_KEY`` (base64 of a raw Ed25519 private key).

    Raises:
        ServiceUnavailableError: no signing key is configured, or it is not a valid one.
        ConflictError: the chain does not verify; a broken chain is never signed.
        NotFoundError: no such project.
    """
    if not signing_key:
        raise ServiceUnavailableError(
            f"audit checkpoints are not configured on this server: set {SIGNING_KEY_ENV} to the "
            "base64 of a 32-byte Ed25519 private key (`promptstage audit keygen` prints one) "
            "and restart it",
            field=SIGNING_KEY_ENV,
        )
    report = verify(ctx, project)
    if not report.ok:
        raise ConflictError(
            f"the audit chain of project {project!r} is broken at seq {report.first_bad_seq} "
            f"({report.problem}); a broken chain is not signed: run `promptstage audit verify` "
            "and investigate before checkpointing",
            field="project",
            first_bad_seq=report.first_bad_seq,
        )
    try:
        return sign_checkpoint(
            signing_key, project=project, seq=report.checked, head_hash=report.head,
            at=iso_utc(ctx.clock()),
        )  # fmt: skip
    except ConfigurationError as exc:
        raise ServiceUnavailableError(exc.message, field=exc.field) from exc
