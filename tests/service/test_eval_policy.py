"""The gate and static check policies in a project's settings (issue 13): parsed and
normalised, compared for weakening, and loosening them is a four-eyes change; an override of
the gate needs the admin role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.domain.governance import ProjectSettings, settings_from_json, settings_json
from promptstage.domain.models import Role
from promptstage.errors import InvalidInputError, PermissionDeniedError
from promptstage.evals.gate_policy import DEFAULT_POLICIES, SECURITY_SUITE
from promptstage.service import change_requests, eval_gate, governance
from promptstage.service.context import Context
from promptstage.service.eval_policy import (
    gate_policies,
    gated_labels,
    parse_gate_policy,
    parse_static,
    weakenings,
)
from promptstage.service.keys import Principal
from support import releases as helpers
from support.releases import PROJECT, PROMPT

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded

TTL = timedelta(hours=24)
ADMIN = Principal("key:ann", Role.admin, PROJECT, "n1")
RELEASER = Principal("key:alice", Role.releaser, PROJECT, "a1")
INSTANCE = Principal("key:admin", Role.admin, None, "i1")


def gate(**labels: list[dict[str, Any]]) -> dict[str, Any] | None:
    return parse_gate_policy({"labels": {k: {"suites": v} for k, v in labels.items()}})


def with_gate(policy: dict[str, Any] | None, **static: str) -> ProjectSettings:
    return ProjectSettings(("prod",), True, None, policy, parse_static(static) if static else None)


DEFAULT = ProjectSettings()
SEC = {"suite": SECURITY_SUITE}


def test_the_default_gate_is_prod_on_the_security_suite_at_100_percent() -> None:
    assert gate_policies(DEFAULT) == DEFAULT_POLICIES
    assert gated_labels(DEFAULT) == ["prod"]
    assert gate_policies(with_gate(gate(prod=[SEC]))) == DEFAULT_POLICIES  # spelled out


def test_a_bad_policy_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_gate_policy(
            {"labels": {"prod": {"suites": [{"suite": SECURITY_SUITE, "scope": "x"}]}}}
        )
    assert caught.value.field == "gate_policy.labels.prod.suites[0].scope"
    with pytest.raises(InvalidInputError) as caught:
        parse_static({"secret": "maybe"})
    assert caught.value.field == "static_policy.secret"


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (with_gate(gate(prod=[SEC], staging=[SEC])), []),
        (with_gate(gate(prod=[{**SEC, "scope": "all"}])), []),
        (with_gate(gate()), ["label prod no longer gated"]),
        (with_gate(gate(prod=[])), ["label prod no longer gated"]),
        (
            with_gate(gate(prod=[{**SEC, "min_pass_rate": 0.9}])),
            ["gate of prod: suite builtin/security pass rate lowered 100% -> 90%"],
        ),
        (with_gate(None, secret="warn"), ["static check secret: block -> warn"]),
        (with_gate(None, pii="off"), ["static check pii: warn -> off"]),
        (with_gate(None, pii="block"), []),
    ],
)
def test_gate_and_static_weakenings(after: ProjectSettings, expected: list[str]) -> None:
    assert weakenings(DEFAULT, after) == expected


def test_removing_a_suite_and_narrowing_a_scope_are_weaker() -> None:
    before = with_gate(gate(prod=[{**SEC, "scope": "all"}, {"suite": "team/qa"}]))
    after = with_gate(gate(prod=[SEC]))
    assert weakenings(before, after) == [
        "gate of prod: suite builtin/security scope narrowed to deterministic",
        "gate of prod: suite team/qa no longer required",
    ]


requirement = st.fixed_dictionaries(
    {
        "suite": st.sampled_from([SECURITY_SUITE, "team/qa", "team/tone"]),
        "min_pass_rate": st.floats(0, 1),
        "scope": st.sampled_from(["deterministic", "all"]),
    }
)
policies = st.dictionaries(
    st.sampled_from(["prod", "staging", "beta"]),
    st.lists(requirement, max_size=3, unique_by=lambda r: r["suite"]),
    max_size=3,
)


@given(policies, requirement)
def test_a_policy_never_weakens_itself_and_adding_a_requirement_is_not_weaker(
    labels: dict[str, list[dict[str, Any]]], extra: dict[str, Any]
) -> None:
    before = with_gate(gate(**labels))
    assert weakenings(before, before) == []
    assert settings_from_json(settings_json(before)) == before
    grown = {k: list(v) for k, v in labels.items()}
    new_label = [r for r in grown.get("canary", []) if r["suite"] != extra["suite"]]
    grown["canary"] = [*new_label, extra]
    assert weakenings(before, with_gate(gate(**grown))) == []


def test_weakening_the_gate_is_a_four_eyes_change(seeded: Context) -> None:
    outcome = governance.propose_settings(
        seeded, ADMIN, PROJECT, with_gate(gate()), reason="no gate", ttl=TTL
    )
    assert isinstance(outcome, governance.Opened)
    assert governance.get_settings(seeded, PROJECT).gate_policy is None  # unchanged
    assert outcome.change_request.params["after"]["gate_policy"] == {"labels": {}}
    other = Principal("key:bob", Role.admin, PROJECT, "b1")
    change_requests.approve(seeded, other.actor, PROJECT, outcome.change_request.id)
    assert gated_labels(governance.get_settings(seeded, PROJECT)) == []


def test_strengthening_the_gate_applies_at_once(seeded: Context) -> None:
    stronger = with_gate(gate(prod=[SEC], staging=[SEC]))
    outcome = governance.propose_settings(seeded, ADMIN, PROJECT, stronger, reason=None, ttl=TTL)
    assert outcome == governance.Applied(stronger)
    assert gated_labels(governance.get_settings(seeded, PROJECT)) == ["prod", "staging"]


def test_the_instance_key_loosens_the_gate_at_once_as_break_glass(seeded: Context) -> None:
    loose = with_gate(None, secret="warn")
    outcome = governance.propose_settings(seeded, INSTANCE, PROJECT, loose, reason=None, ttl=TTL)
    assert isinstance(outcome, governance.Applied)
    assert governance.get_settings(seeded, PROJECT).static_policy == loose.static_policy


def test_an_override_needs_the_admin_role(seeded: Context) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        governance.propose_move(
            seeded, RELEASER, PROJECT, PROMPT, "prod", 3, expected_version=1,
            expect_absent=False, reason=None, ttl=TTL, override_gate="hotfix",
        )  # fmt: skip
    assert "'admin' role" in caught.value.message
    with pytest.raises(PermissionDeniedError):
        governance.propose_release(
            seeded, RELEASER, PROJECT,
            {"prompt": PROMPT, "label": "prod", "candidate_version": 3, "strategy": "canary"},
            ttl=TTL, override_gate="hotfix",
        )  # fmt: skip


def test_an_override_needs_a_reason(seeded: Context) -> None:
    with pytest.raises(InvalidInputError) as caught:
        eval_gate.parse_override(ADMIN, PROJECT, "  ")
    assert caught.value.field == "override_gate.reason"
