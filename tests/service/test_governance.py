"""The governance policy front ends call (service/governance.py): apply now or open a change
request, the role checks on protected labels, and the break-glass and rollback flags."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Role
from promptstage.errors import PermissionDeniedError
from promptstage.service import governance
from promptstage.service.context import Context
from promptstage.service.keys import Principal
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

TTL = timedelta(hours=24)
RELEASER = Principal("key:alice", Role.releaser, PROJECT, "a1")
EDITOR = Principal("key:ed", Role.editor, PROJECT, "e1")
INSTANCE = Principal("key:admin", Role.admin, None, "i1")
RELEASE = {"prompt": PROMPT, "label": "prod", "candidate_version": 2, "strategy": "canary"}


@pytest.fixture
def four_eyes(seeded: Context) -> Context:
    """The default settings: ``prod`` protected, four-eyes on."""
    assert governance.get_settings(seeded, PROJECT) == ProjectSettings(("prod",), True)
    return seeded


@pytest.fixture
def two_eyes(seeded: Context) -> Context:
    governance.update_settings(seeded, USER, PROJECT, ProjectSettings(("prod",), False))
    return seeded


def last_audit_after(ctx: Context) -> object:
    with ctx.store.unit_of_work() as uow:
        return uow.list_audit(PROJECT, limit=1, before=None)[0].after


def move(ctx: Context, who: Principal, label: str = "prod", version: int = 3) -> object:
    return governance.propose_move(
        ctx,
        who,
        PROJECT,
        PROMPT,
        label,
        version,
        expected_version=None,
        expect_absent=False,
        reason=None,
        ttl=TTL,
    )


def test_without_four_eyes_a_move_is_applied(two_eyes: Context) -> None:
    outcome = move(two_eyes, RELEASER)
    assert isinstance(outcome, governance.Applied) and outcome.value is not None
    assert outcome.value.version == 3


def test_under_four_eyes_a_project_key_opens_a_request(four_eyes: Context) -> None:
    outcome = move(four_eyes, RELEASER)
    assert isinstance(outcome, governance.Opened)
    assert (outcome.change_request.label, outcome.change_request.version) == ("prod", 3)
    released = governance.propose_release(four_eyes, RELEASER, PROJECT, dict(RELEASE), ttl=TTL)
    assert isinstance(released, governance.Opened)
    assert released.change_request.kind == "release.start"


def test_under_four_eyes_an_unprotected_label_moves_at_once(four_eyes: Context) -> None:
    assert isinstance(move(four_eyes, EDITOR, label="staging"), governance.Applied)


def test_the_instance_key_is_break_glass_and_flagged(four_eyes: Context) -> None:
    assert isinstance(move(four_eyes, INSTANCE), governance.Applied)
    assert last_audit_after(four_eyes) == {"version": 3, "four_eyes_bypass": "break_glass"}


def test_a_rollback_never_waits_and_is_flagged(four_eyes: Context) -> None:
    governance.propose_move(
        four_eyes,
        INSTANCE,
        PROJECT,
        PROMPT,
        "prod",
        3,
        expected_version=None,
        expect_absent=False,
        reason=None,
        ttl=TTL,
    )
    back = governance.roll_back_label(
        four_eyes, RELEASER, PROJECT, PROMPT, "prod", to_version=None, reason="pages"
    )
    assert back is not None and back.version == 1
    assert last_audit_after(four_eyes) == {"version": 1, "four_eyes_bypass": "rollback"}


def test_a_protected_label_needs_a_releaser(seeded: Context) -> None:
    with pytest.raises(PermissionDeniedError) as raised:
        move(seeded, EDITOR)
    assert raised.value.details.get("needed_role") == "releaser"


def test_removing_a_protected_label_under_four_eyes_needs_the_instance_key(
    four_eyes: Context,
) -> None:
    with pytest.raises(PermissionDeniedError):
        governance.remove_label(four_eyes, RELEASER, PROJECT, PROMPT, "prod", None)
    governance.remove_label(four_eyes, INSTANCE, PROJECT, PROMPT, "prod", None)
    assert last_audit_after(four_eyes) == {"version": None, "four_eyes_bypass": "break_glass"}


def test_a_key_of_another_project_is_refused_before_anything_is_read(seeded: Context) -> None:
    stranger = Principal("key:x", Role.admin, "elsewhere", "x1")
    with pytest.raises(PermissionDeniedError, match="belongs to project 'elsewhere'"):
        move(seeded, stranger)
