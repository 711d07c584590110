"""The audit trail: list it, verify its hash chain, sign checkpoints, export evidence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from promptstage.api.deps import Admin, Editor, Limit, ctx
from promptstage.api.inputs import check_params
from promptstage.domain.audit import Anchor, ChainReport
from promptstage.domain.wire import audit_json
from promptstage.errors import InvalidInputError
from promptstage.service import audit as audit_svc
from promptstage.service import evidence

router = APIRouter(tags=["audit"], dependencies=[Depends(check_params)])

CHAIN_HEADER = "X-Promptstage-Audit-Chain"
_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One record per change: JSON lines, or CSV with a header row.",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/api/v1/projects/{project}/audit", summary="The audit trail, newest first")
def list_audit(
    project: str, who: Editor, request: Request, limit: Limit = 100, cursor: str | None = None
) -> dict[str, Any]:
    items, next_cursor = audit_svc.list_audit(ctx(request), project, limit, cursor)
    return {"items": [audit_json(a) for a in items], "next_cursor": next_cursor}


@router.get(
    "/api/v1/projects/{project}/audit/verify",
    summary="Verify the audit hash chain (and that it still holds a checkpoint)",
)
def verify_audit(
    project: str,
    who: Editor,
    request: Request,
    checkpoint_seq: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    checkpoint_hash: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """``ok`` is false when a row was changed, deleted, inserted or reordered, or when the
    chain no longer holds row ``checkpoint_seq`` with hash ``checkpoint_hash``. The caller
    checks the checkpoint's signature; this only compares the chain with it."""
    anchor = _anchor(checkpoint_seq, checkpoint_hash)
    return report_json(audit_svc.verify(ctx(request), project, anchor), anchor)


@router.post(
    "/api/v1/projects/{project}/audit/checkpoint",
    summary="Sign the audit chain head (Ed25519) for keeping outside the database",
)
def create_checkpoint(project: str, who: Admin, request: Request) -> dict[str, Any]:
    """503 when ``PROMPTSTAGE_AUDIT_SIGNING_KEY`` is not set; 409 when the chain is broken."""
    key: str | None = request.app.state.settings.audit_signing_key
    return audit_svc.checkpoint(ctx(request), project, key).to_json()


@router.get(
    "/api/v1/projects/{project}/audit/export",
    summary="Evidence export: one record per change (diff, label state, approvals, hash)",
    response_class=Response,
    responses=_EXPORT_RESPONSES,
)
def export_audit(
    project: str,
    who: Editor,
    request: Request,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    format_: Annotated[str, Query(alias="format", max_length=16)] = "jsonl",
) -> Response:
    """Changes made in ``[since, until)`` (ISO-8601; a date means its midnight UTC). The
    ``X-Promptstage-Audit-Chain`` header says whether the chain verified (``ok``, or
    ``broken at seq N``)."""
    kind = evidence.check_format(format_)
    found = evidence.export_evidence(
        ctx(request), project,
        since=evidence.parse_bound(since, "since"), until=evidence.parse_bound(until, "until"),
    )  # fmt: skip
    body = evidence.to_jsonl(found.records) if kind == "jsonl" else evidence.to_csv(found.records)
    chain = "ok" if found.chain.ok else f"broken at seq {found.chain.first_bad_seq}"
    headers = {
        CHAIN_HEADER: chain,
        "Content-Disposition": f'attachment; filename="audit-evidence.{kind}"',
    }
    return Response(body, media_type=_MEDIA[kind], headers=headers)


def _anchor(seq: int | None, hash_: str | None) -> Anchor | None:
    if seq is None and not hash_:
        return None
    if seq is None:
        raise InvalidInputError(
            "checkpoint_hash was given without checkpoint_seq; pass both (from the checkpoint "
            "file's seq and head_hash) or neither",
            field="checkpoint_seq",
        )
    if not hash_:
        raise InvalidInputError(
            "checkpoint_seq was given without checkpoint_hash; pass both (from the checkpoint "
            "file's seq and head_hash) or neither",
            field="checkpoint_hash",
        )
    return Anchor(seq, hash_)


def report_json(report: ChainReport, anchor: Anchor | None) -> dict[str, Any]:
    """The API form of a chain report; ``checkpoint`` only when one was asked about."""
    body: dict[str, Any] = {
        "ok": report.ok,
        "checked": report.checked,
        "head": report.head,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
    }
    if anchor is not None:
        body["checkpoint"] = {
            "seq": anchor.seq,
            "head_hash": anchor.hash,
            "ok": report.checkpoint_ok,
        }
    return body
