"""Project administration: people, service accounts and API keys, governance settings and
webhooks. Only the project's admins and the instance admin see it; the services audit every
action with the signed-in person as the actor.

A created key's token and a created webhook's secret are shown once, on the page that answers
the form (never stored in a notice, never on the list, never logged).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from promptstage.domain.models import Role
from promptstage.domain.principals import PrincipalKind
from promptstage.domain.webhooks import WEBHOOK_EVENTS
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from promptstage.service import access, evidence, governance, keys, principals, users, webhooks
from promptstage.service.keys import Principal
from promptstage.service.sessions import SessionUser

from ..session import Viewer, Writer, acting, config
from ..templating import redirect, render

router = APIRouter()

FormText = Annotated[str, Form(max_length=2000)]
FORM_ERRORS = (InvalidInputError, ConflictError, NotFoundError)  # shown next to the field


def admin_of(user: SessionUser, project: str) -> Principal:
    """``user`` acting on ``project`` as its admin.

    Raises:
        PermissionDeniedError: she is not an admin of ``project`` (nor the instance admin).
    """
    who = acting(user, project)
    try:
        access.check(who, project, Role.admin)
    except PermissionDeniedError:
        raise PermissionDeniedError(
            f"the admin pages of project {project!r} are for its admins; you are "
            f"{who.role.value} here. Ask an admin of the project to make the change, or to "
            "grant you the admin role",
            field="role",
        ) from None
    return who


def _base(project: str) -> str:
    return f"/ui/p/{project}/admin"


def _key_state(key: Any, now: Any) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _webhook_rows(request: Request, project: str) -> list[dict[str, Any]]:
    ctx = config(request).ctx
    rows = []
    for hook in webhooks.list_webhooks(ctx, project):
        last, _ = webhooks.list_deliveries(ctx, project, hook.id, limit=1)
        delivery = last[0] if last else None
        attempt = delivery.attempts[-1] if delivery and delivery.attempts else None
        rows.append({"hook": hook, "delivery": delivery, "attempt": attempt})
    return rows


def _page(
    request: Request,
    project: str,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    ctx = config(request).ctx
    now = ctx.clock()
    return render(
        request,
        "admin.html",
        status_code=status_code,
        project=project,
        nav="admin",
        people=users.list_users(ctx, project),
        principals=principals.list_principals(ctx, project),
        keys=[(k, _key_state(k, now)) for k in keys.list_keys(ctx, project)],
        settings=governance.get_settings(ctx, project),
        hooks=_webhook_rows(request, project),
        ui_roles=[r.value for r in users.UI_ROLES],
        key_roles=[r.value for r in Role],
        kinds=[k.value for k in PrincipalKind],
        events=list(WEBHOOK_EVENTS),
        errors=errors or {},
        values=values or {},
    )


def _refused(
    request: Request, project: str, form: str, exc: Any, values: dict[str, str]
) -> Response:
    """The admin page again, with the service's message next to the field it names."""
    field = f"{form}.{exc.field or 'form'}"
    return _page(request, project, 422, errors={field: exc.message}, values=values)


@router.get("/p/{project}/admin")
def admin_page(request: Request, project: str, user: Viewer) -> Response:
    admin_of(user, project)
    return _page(request, project)


# people ------------------------------------------------------------------------------------
@router.post("/p/{project}/admin/users")
def create_user(
    request: Request,
    project: str,
    user: Writer,
    name: FormText = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    role: FormText = "",
) -> Response:
    who = admin_of(user, project)
    try:
        made = users.create_user(
            config(request).ctx, who.actor, project, name.strip(), password or None, role
        )
    except FORM_ERRORS as exc:
        return _refused(request, project, "user", exc, {"user.name": name, "user.role": role})
    return redirect(request, _base(project), f"{made.name} may now sign in as {made.role.value}.")


@router.post("/p/{project}/admin/users/{name}/role")
def change_role(
    request: Request, project: str, name: str, user: Writer, role: FormText = ""
) -> Response:
    who = admin_of(user, project)
    made = users.grant(config(request).ctx, who.actor, project, name, role)
    return redirect(request, _base(project), f"{made.name} is now {made.role.value}.")


@router.post("/p/{project}/admin/users/{name}/revoke")
def revoke_user(request: Request, project: str, name: str, user: Writer) -> Response:
    who = admin_of(user, project)
    users.revoke(config(request).ctx, who.actor, project, name)
    return redirect(request, _base(project), f"{name} no longer has a role in {project}.")


@router.post("/p/{project}/admin/users/{name}/password")
def reset_password(
    request: Request,
    project: str,
    name: str,
    user: Writer,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    who = admin_of(user, project)
    # A project admin may only reset a user of this project and of no other one.
    scope = None if who.project is None else project
    try:
        users.set_password(config(request).ctx, who.actor, name, password, scope=scope)
    except InvalidInputError as exc:
        return _refused(request, project, f"password-{name}", exc, {})
    return redirect(
        request, _base(project), f"{name}'s password was reset; her sessions were signed out."
    )


# principals and keys -------------------------------------------------------------------------
@router.post("/p/{project}/admin/principals")
def create_principal(
    request: Request, project: str, user: Writer, name: FormText = "", kind: FormText = ""
) -> Response:
    who = admin_of(user, project)
    try:
        made = principals.create_principal(
            config(request).ctx, who.actor, project, name.strip(), kind
        )
    except FORM_ERRORS as exc:
        values = {"principal.name": name, "principal.kind": kind}
        return _refused(request, project, "principal", exc, values)
    return redirect(request, _base(project), f"{made.kind.value} {made.name} created.")


@router.post("/p/{project}/admin/keys")
def create_key(
    request: Request,
    project: str,
    user: Writer,
    name: FormText = "",
    role: FormText = "",
    principal: FormText = "",
    expires: FormText = "",
) -> Response:
    who = admin_of(user, project)
    values = {
        "key.name": name,
        "key.role": role,
        "key.principal": principal,
        "key.expires": expires,
    }
    try:
        expires_at = evidence.parse_bound(expires or None, "expires_at")
        key, token = keys.create_key(
            config(request).ctx, who.actor, project, name.strip() or None, role,
            principal=principal or None, expires_at=expires_at,
        )  # fmt: skip
    except FORM_ERRORS as exc:
        return _refused(request, project, "key", exc, values)
    response = render(
        request, "admin_key_created.html", project=project, nav="admin", key=key, token=token
    )
    response.headers["Cache-Control"] = "no-store"  # the token must not stay in any cache
    return response


@router.post("/p/{project}/admin/keys/{prefix}/revoke")
def revoke_key(request: Request, project: str, prefix: str, user: Writer) -> Response:
    who = admin_of(user, project)
    ui = config(request)
    keys.revoke_key(ui.ctx, who.actor, project, prefix, ui.authenticator)
    return redirect(request, _base(project), f"Key {prefix} is revoked; it stops working now.")


# governance -------------------------------------------------------------------------------
def _days(value: str) -> Any:
    """The form's lifetime: empty for no limit, a whole number, or the text as given (the
    service names what is wrong with it)."""
    text = value.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


@router.post("/p/{project}/admin/settings")
def update_settings(
    request: Request,
    project: str,
    user: Writer,
    protected_labels: FormText = "",
    four_eyes: FormText = "",
    max_key_lifetime_days: FormText = "",
    reason: FormText = "",
) -> Response:
    who = admin_of(user, project)
    ui = config(request)
    labels = [label.strip() for label in protected_labels.split(",") if label.strip()]
    try:
        wanted = governance.parse_settings(labels, four_eyes == "on", _days(max_key_lifetime_days))
        outcome = governance.propose_settings(
            ui.ctx, who, project, wanted, reason=reason or None, ttl=ui.change_request_ttl
        )
    except InvalidInputError as exc:
        values = {
            "settings.protected_labels": protected_labels,
            "settings.max_key_lifetime_days": max_key_lifetime_days,
            "settings.reason": reason,
        }
        return _refused(request, project, "settings", exc, values)
    if isinstance(outcome, governance.Opened):
        request_id = outcome.change_request.id
        return redirect(
            request,
            f"/ui/p/{project}/approvals/{request_id}",
            f"Opened change request {request_id}: this weakens governance, so another admin "
            "must approve it. Nothing changed yet.",
        )
    return redirect(request, _base(project), "Governance settings saved.")


# webhooks ---------------------------------------------------------------------------------
@router.post("/p/{project}/admin/webhooks")
def create_webhook(
    request: Request,
    project: str,
    user: Writer,
    url: FormText = "",
    secret: Annotated[str, Form(max_length=300)] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    who = admin_of(user, project)
    ui = config(request)
    try:
        hook = webhooks.create_webhook(
            ui.ctx, who.actor, project, url=url.strip(), events=events or None,
            secret=secret or None, policy=ui.webhook_policy,
        )  # fmt: skip
    except FORM_ERRORS as exc:
        return _refused(request, project, "webhook", exc, {"webhook.url": url})
    response = render(
        request, "admin_webhook_created.html", project=project, nav="admin", hook=hook
    )
    response.headers["Cache-Control"] = "no-store"  # the secret must not stay in any cache
    return response


@router.post("/p/{project}/admin/webhooks/{webhook_id}/delete")
def delete_webhook(request: Request, project: str, webhook_id: str, user: Writer) -> Response:
    who = admin_of(user, project)
    webhooks.delete_webhook(config(request).ctx, who.actor, project, webhook_id)
    return redirect(request, _base(project), f"Webhook {webhook_id} deleted.")
