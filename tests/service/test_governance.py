"""The governance policy front ends call (service/governance.py): apply now or open a change
request, the role checks on protected labels, and the break-glass and rollback flags."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import Role
from promptstage.errors import ConflictError, PermissionDeniedError, PreconditionRequiredError
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
ADMIN = Principal("key:ann", Role.admin, PROJECT, "n1")
ADMIN2 = Principal("key:bob", Role.admin, PROJECT, "b1")
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


def move(
    ctx: Context,
    who: Principal,
    label: str = "prod",
    version: int = 3,
    expected: int | None = None,
) -> object:
    current = {"prod": 1, "staging": 2}  # the seed's labels, the precondition of every move
    return governance.propose_move(
        ctx,
        who,
        PROJECT,
        PROMPT,
        label,
        version,
        expected_version=expected or current[label],
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
        expected_version=1,
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


# -- compare-and-set on protected labels, weakening the settings (issue 11, defects 5 and 2) -----


@pytest.mark.parametrize("who", [RELEASER, INSTANCE])
def test_a_protected_label_move_needs_a_precondition(four_eyes: Context, who: Principal) -> None:
    with pytest.raises(PreconditionRequiredError) as raised:
        governance.propose_move(
            four_eyes,
            who,
            PROJECT,
            PROMPT,
            "prod",
            3,
            expected_version=None,
            expect_absent=False,
            reason=None,
            ttl=TTL,
        )
    assert raised.value.field == "expected_version" and raised.value.status_code == 428


def test_an_approved_move_re_checks_the_recorded_precondition(four_eyes: Context) -> None:
    opened = move(four_eyes, RELEASER)
    assert isinstance(opened, governance.Opened) and opened.change_request.expected_version == 1
    move(four_eyes, INSTANCE, version=2)  # break-glass: prod 1 -> 2 meanwhile
    with pytest.raises(ConflictError) as raised:
        governance.approve_request(four_eyes, ADMIN2, PROJECT, opened.change_request.id)
    assert raised.value.field == "expected_version"


def settings_change(ctx: Context, who: Principal, wanted: ProjectSettings) -> object:
    return governance.propose_settings(ctx, who, PROJECT, wanted, reason=None, ttl=TTL)


@pytest.mark.parametrize(
    "wanted", [ProjectSettings(("prod",), False), ProjectSettings(("staging",), True)]
)
def test_weakening_opens_a_request_for_another_admin(
    four_eyes: Context, wanted: ProjectSettings
) -> None:
    opened = settings_change(four_eyes, ADMIN, wanted)
    assert isinstance(opened, governance.Opened)
    assert opened.change_request.kind == "project.settings"
    assert governance.get_settings(four_eyes, PROJECT) == ProjectSettings(("prod",), True)
    request_id = opened.change_request.id
    with pytest.raises(PermissionDeniedError) as raised:
        governance.approve_request(four_eyes, RELEASER, PROJECT, request_id)
    assert raised.value.details["needed_role"] == "admin"
    with pytest.raises(PermissionDeniedError):
        governance.approve_request(four_eyes, ADMIN, PROJECT, request_id)  # its requester
    decided, applied = governance.approve_request(four_eyes, ADMIN2, PROJECT, request_id)
    assert decided.state == "approved" and governance.get_settings(four_eyes, PROJECT) == wanted
    assert applied == {
        "settings": {
            "protected_labels": list(wanted.protected_labels),
            "four_eyes": wanted.four_eyes,
            "max_key_lifetime_days": None,
        }
    }


def test_strengthening_applies_at_once(four_eyes: Context) -> None:
    stronger = ProjectSettings(("prod", "staging"), True)
    assert settings_change(four_eyes, ADMIN, stronger) == governance.Applied(stronger)
    assert last_audit_after(four_eyes) == {
        "protected_labels": ["prod", "staging"],
        "four_eyes": True,
        "max_key_lifetime_days": None,
    }


def test_the_instance_key_weakens_at_once_flagged(four_eyes: Context) -> None:
    weaker = ProjectSettings(("prod",), False)
    assert settings_change(four_eyes, INSTANCE, weaker) == governance.Applied(weaker)
    assert last_audit_after(four_eyes) == {
        "protected_labels": ["prod"],
        "four_eyes": False,
        "max_key_lifetime_days": None,
        "four_eyes_bypass": "break_glass",
    }


def test_settings_changes_need_an_admin(four_eyes: Context) -> None:
    with pytest.raises(PermissionDeniedError):
        settings_change(four_eyes, RELEASER, ProjectSettings(("prod", "beta"), True))
