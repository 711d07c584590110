"""What a page asks before it offers a governance control: may this person decide this change
request, change this label, and would her move open a change request? Each answer reuses the
check the action itself makes (``governance``, ``change_requests``), so a page and the refusal
of a forced request never disagree."""

from __future__ import annotations

from promptstage.domain.governance import ChangeRequest
from promptstage.domain.models import Role
from promptstage.errors import NotFoundError, PermissionDeniedError

from . import change_requests
from .access import check
from .context import Context
from .governance import check_decider_role, check_label, get_settings, opens_request
from .keys import Principal


def get_request(ctx: Context, who: Principal, project: str, request_id: str) -> ChangeRequest:
    """One change request of ``project`` (any state), for anyone with a role there.

    Raises:
        NotFoundError: naming ``id``.
    """
    check(who, project, Role.editor)
    with ctx.store.unit_of_work() as uow:
        found = uow.get_change_request(project, request_id) if len(request_id) <= 40 else None
    if found is None:
        raise NotFoundError(f"no change request {request_id!r} in project {project!r}", field="id")
    return found


def may_decide(
    ctx: Context, who: Principal, project: str, request: ChangeRequest, *, approving: bool = True
) -> str | None:
    """Why ``who`` may not approve (or reject) ``request``, or ``None`` when she may.

    The same checks :func:`approve_request` and :func:`reject_request` make (role, the admin
    role for a settings change, four-eyes), so a page that offers the buttons and the refusal
    of a forced request never disagree. The request's state is not judged here.
    """
    try:
        check_decider_role(who, project, request)
    except PermissionDeniedError as exc:
        return exc.message
    with ctx.store.unit_of_work() as uow:
        refusal = change_requests.decider_refusal(
            uow, project, who.actor, request, approving=approving
        )
    return None if refusal is None else refusal.message


def label_refusal(ctx: Context, who: Principal, project: str, label: str) -> str | None:
    """Why ``who`` may not move, roll back or remove ``label`` (:func:`check_label`), or
    ``None``: what a page asks before it offers those controls."""
    try:
        check_label(ctx, who, project, label)
    except PermissionDeniedError as exc:
        return exc.message
    return None


def needs_second_person(ctx: Context, who: Principal, project: str, label: str) -> bool:
    """Whether ``who`` moving ``label`` would open a change request (four-eyes) rather than
    move it: what :func:`propose_move` decides, asked before the form is sent."""
    return opens_request(get_settings(ctx, project), who, label)
