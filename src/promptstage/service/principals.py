"""Principals: create and list the people and service accounts keys are issued to, and the
four-eyes questions asked of them (same principal? may it decide?)."""

from __future__ import annotations

from typing import Any

from promptstage.domain.events import AuditAction
from promptstage.domain.principals import (
    INSTANCE_ADMIN,
    NAME_PATTERN,
    PrincipalKind,
    PrincipalRecord,
    principal_json,
    principal_of,
)
from promptstage.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from promptstage.store.base import LedgerRepo

from .context import Change, Context, change
from .prompts import require_project


def principal_name(value: Any, field: str = "name") -> str:
    """Validate a new principal's name: lower case letters, digits, ``.``, ``_``, ``-``.

    Raises:
        InvalidInputError: naming ``field``.
    """
    if value == INSTANCE_ADMIN:
        raise InvalidInputError(
            f"{field} {INSTANCE_ADMIN!r} is reserved for the instance admin key; pick another",
            field=field,
        )
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidInputError(
            f"{field} must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            f"letter or digit, e.g. 'alice' or 'booking-agent'; got {value!r}",
            field=field,
        )
    return value


def _kind(value: Any) -> PrincipalKind:
    try:
        return PrincipalKind(value)
    except ValueError:
        raise InvalidInputError(
            f"kind must be one of {[k.value for k in PrincipalKind]}, got {value!r}", field="kind"
        ) from None


def create_principal(
    ctx: Context, actor: str, project: str, name: Any, kind: Any
) -> PrincipalRecord:
    """Create a person or a service account of ``project``; audited as ``principal.create``.

    Raises:
        InvalidInputError: naming ``name`` or ``kind``.
        ConflictError: the name is taken in the project.
    """
    valid = principal_name(name)
    principal_kind = _kind(kind)
    with change(ctx, project, actor) as ch:
        created = PrincipalRecord(project, valid, principal_kind, ch.at, actor)
        ch.uow.add_principal(created)
        ch.record(
            AuditAction.PRINCIPAL_CREATE,
            f"principal:{valid}",
            before=None,
            after=principal_json(created),
        )
    return created


def list_principals(ctx: Context, project: str) -> list[PrincipalRecord]:
    """The project's principals, by name.

    Raises:
        NotFoundError: the project does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return uow.list_principals(project)


def issue_to(ch: Change, name: str) -> PrincipalRecord:
    """The principal of ``ch.project`` a new key is issued to.

    Raises:
        NotFoundError: naming ``principal``, with how to create it.
    """
    found = ch.uow.get_principal(ch.project, name)
    if found is None:
        raise NotFoundError(
            f"project {ch.project!r} has no principal {name!r}; create it first with "
            f"POST /api/v1/projects/{ch.project}/principals (promptstage principal create)",
            field="principal",
        )
    return found


def add_own_principal(ch: Change, name: str) -> None:
    """Record the principal of a key issued without one (a person named ``key:<prefix>``)."""
    ch.uow.add_principal(PrincipalRecord(ch.project, name, PrincipalKind.person, ch.at, ch.actor))


def same_principal(actor: str, other: str) -> bool:
    """Whether two audit actors are the same principal (whatever keys they used)."""
    return principal_of(actor) == principal_of(other)


def not_a_person(
    uow: LedgerRepo, project: str, actor: str, request_id: str
) -> PermissionDeniedError | None:
    """The refusal of a service account's decision on a change request, or ``None``."""
    name = principal_of(actor)
    found = uow.get_principal(project, name) or uow.get_principal(None, name)
    if found is not None and found.kind is PrincipalKind.service:
        return PermissionDeniedError(
            f"{name} is a service account: only a person may approve or reject change request "
            f"{request_id}",
            field="Authorization",
        )
    return None
