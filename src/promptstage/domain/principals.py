"""Principals: the people and service accounts that API keys are issued to.

Four-eyes counts principals, never keys: two keys of one person are still one person. An
actor in the audit trail reads ``alice (key:3f2a9c01b7de)``: the principal's name with the
key prefix beside it; a person signed in to the admin UI reads ``alice (ui)``. Keys made before principals existed (migration 0005) and keys created
without a ``principal`` each have a principal of their own named ``key:<prefix>``, so their
actor is the bare ``key:<prefix>`` the audit trail always showed for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .models import iso_utc

INSTANCE_ADMIN = "instance-admin"  # the actor of PROMPTSTAGE_ADMIN_KEY; no principal may take it
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ACTOR = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._-]{0,62}) \((?:key:(?P<prefix>[0-9a-z]+)|(?P<ui>ui))\)$"
)


class PrincipalKind(StrEnum):
    """A person may approve another principal's change; a service account never may."""

    person = "person"
    service = "service"


@dataclass(frozen=True, slots=True)
class PrincipalRecord:
    """A named principal of a project (``project`` is ``None`` for an instance-level one)."""

    project: str | None
    name: str
    kind: PrincipalKind
    created_at: datetime
    created_by: str


def own_principal(prefix: str) -> str:
    """The principal of a key issued without one: the key itself, as before principals."""
    return f"key:{prefix}"


def key_actor(principal: str, prefix: str) -> str:
    """The audit actor of a request made with key ``prefix`` of ``principal``."""
    if principal == own_principal(prefix):
        return principal
    return f"{principal} (key:{prefix})"


def ui_actor(name: str) -> str:
    """The audit actor of ``name`` acting through the admin UI: ``alice (ui)``.

    The instance admin signed in to the UI stays ``instance-admin``, as with its key.
    """
    if name == INSTANCE_ADMIN:
        return name
    return f"{name} (ui)"


def principal_of(actor: str) -> str:
    """The principal an actor string names: ``alice`` for ``alice (key:…)`` and for
    ``alice (ui)``, else the actor. Four-eyes compares these, so a person's keys and her UI
    sessions are one person.

    A legacy ``key:<prefix>`` actor is the principal migration 0005 created for that key.
    """
    found = _ACTOR.match(actor)
    return found.group("name") if found else actor


def principal_json(p: PrincipalRecord) -> dict[str, object]:
    """The wire form of a principal."""
    return {
        "project": p.project,
        "name": p.name,
        "kind": p.kind.value,
        "created_at": iso_utc(p.created_at),
        "created_by": p.created_by,
    }
