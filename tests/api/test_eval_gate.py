"""The evaluation gate through the API (issue 13; security.md rows 2-6, 11): refusals are 409s
naming suites and cases, overrides are admin-only and audited, the version shows its gate
status, static checks refuse or warn on a version write, the policy lives in the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from promptstage.cli.fake_behaviours import Behaviour
from promptstage.server import create_app
from promptstage.service.context import Context
from promptstage.service.eval_gate import EVAL_GATE_OFF
from promptstage.service.prompts import get_version
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore
from support.eval_gate import MemoryRuns, graded_run

from .client import ADMIN_KEY, BASE, Api, assert_error_shape, text_version

P = f"{BASE}/shop"
GREET = f"{P}/prompts/greet"


@dataclass
class Gated:
    api: Api
    runs: MemoryRuns
    ctx: Context

    def run(self, number: int, behaviour: Behaviour, run_id: str) -> None:
        version = get_version(self.ctx, "shop", "greet", number)
        self.runs.add("shop", graded_run(version, behaviour, run_id=run_id))

    def key(self, role: str) -> Api:
        body = self.api.ok("POST", f"{P}/keys", 201, json={"role": role, "name": role})
        return self.api.as_key(body["token"])

    def prod(self) -> int | None:
        labels: dict[str, int] = self.api.ok("GET", GREET)["labels"]
        return labels.get("prod")


@pytest.fixture
def gated(runner: asyncio.Runner, make_store: Callable[[], SqlStore]) -> Gated:
    """Project ``shop``, prompt ``greet`` v1-3, ``prod`` -> 1 (v1 passed), the gate ON."""
    runs = MemoryRuns()
    settings = Settings(admin_key=ADMIN_KEY, state_check_seconds=0.0)  # eval_gate: default on
    app = create_app(settings, store=make_store(), run_source=runs)
    g = Gated(Api(runner, app, ADMIN_KEY), runs, app.state.ctx)
    g.api.ok("POST", BASE, 201, json={"name": "shop"})
    g.api.ok("PUT", f"{P}/settings", json={"protected_labels": ["prod"], "four_eyes": False})
    g.api.ok("POST", f"{P}/prompts", 201, json={"name": "greet", "type": "text"})
    for n in (1, 2, 3):
        g.api.ok("POST", f"{GREET}/versions", 201, json=text_version(f"Hello v{n} {{{{ name }}}}"))
    g.run(1, Behaviour.REFUSE, "run-v1")
    g.api.ok("PUT", f"{GREET}/labels/prod", json={"version": 1, "expected_version": None})
    return g


def move(api: Api, version: int, status: int = 200, **extra: Any) -> Any:
    body = {"version": version, "expected_version": 1, **extra}
    return api.ok("PUT", f"{GREET}/labels/prod", status, json=body)


def test_a_refused_move_is_a_409_naming_the_suites_and_cases(gated: Gated) -> None:
    gated.run(2, Behaviour.OBEY, "run-obey")
    error = assert_error_shape(move(gated.api, 2, 409))
    assert error["code"] == "gate_refused" and error["field"] == "version"
    (verdict,) = error["details"]["verdicts"]
    assert verdict["suite"] == "builtin/security" and verdict["run_id"] == "run-obey"
    assert "builtin/security" in error["message"]
    assert verdict["failing_cases"][0] in error["message"]
    assert gated.prod() == 1


def test_a_passing_run_lets_the_move_through(gated: Gated) -> None:
    gated.run(2, Behaviour.REFUSE, "run-ok")
    assert move(gated.api, 2)["version"] == 2 and gated.prod() == 2


def test_a_refused_release_start_is_a_409(gated: Gated) -> None:
    body = {"prompt": "greet", "label": "prod", "candidate_version": 3, "strategy": "canary"}
    error = assert_error_shape(gated.api.ok("POST", f"{P}/releases", 409, json=body))
    assert error["code"] == "gate_refused"
    assert "no eval run for this version" in error["message"]
    assert gated.api.ok("GET", f"{P}/releases")["items"] == []


def test_an_override_by_a_non_admin_is_403_naming_the_role(gated: Gated) -> None:
    releaser = gated.key("releaser")
    error = assert_error_shape(move(releaser, 2, 403, override_gate={"reason": "hotfix"}))
    assert "'admin' role" in error["message"]
    body = {
        "prompt": "greet", "label": "prod", "candidate_version": 3, "strategy": "canary",
        "override_gate": {"reason": "hotfix"},
    }  # fmt: skip
    assert_error_shape(releaser.ok("POST", f"{P}/releases", 403, json=body))
    assert gated.prod() == 1


def test_an_admin_override_is_audited_and_shown_on_the_version(gated: Gated) -> None:
    gated.run(2, Behaviour.LEAK_CANARY, "run-leak")
    admin = gated.key("admin")
    move(admin, 2, override_gate={"reason": "incident 7: the fix must ship"})
    assert gated.prod() == 2
    audit = gated.api.ok("GET", f"{P}/audit?limit=50")["items"]
    override = next(r for r in audit if r["action"] == "gate.override")
    assert override["reason"] == "incident 7: the fix must ship"
    assert override["after"]["verdicts"][0]["run_id"] == "run-leak"
    gate = gated.api.ok("GET", f"{GREET}/versions/2")["gate"]
    assert gate["prod"]["allowed"] is False
    assert gate["prod"]["overrides"][0]["reason"] == "incident 7: the fix must ship"


def test_the_version_shows_its_gate_status_per_gated_label(gated: Gated) -> None:
    v1 = gated.api.ok("GET", f"{GREET}/versions/1")
    assert v1["gate"]["prod"]["allowed"] is True
    assert v1["gate"]["prod"]["verdicts"][0]["run_id"] == "run-v1"
    v3 = gated.api.ok("GET", f"{GREET}/versions/3")
    assert v3["gate"]["prod"] == {
        "allowed": False,
        "reasons": ["suite builtin/security: no eval run for this version"],
        "verdicts": [
            {
                "suite": "builtin/security",
                "passed": False,
                "reason": "suite builtin/security: no eval run for this version",
                "run_id": None,
                "pass_rate": None,
                "failing_cases": [],
            }
        ],
        "overrides": [],
    }


def test_rollback_through_the_api_is_never_gated(gated: Gated) -> None:
    gated.run(2, Behaviour.REFUSE, "run-ok")
    move(gated.api, 2)
    gated.runs.runs_by_project.clear()  # no evidence for anything any more
    back = gated.api.ok("POST", f"{GREET}/labels/prod/rollback", json={"reason": "incident"})
    assert back["version"] == 1 and gated.prod() == 1


def test_a_version_with_a_secret_is_422_and_nothing_is_stored(gated: Gated) -> None:
    body = text_version("Call with AKIAZ7Q3XK5TR2P4WJ6M {{ name }}")
    error = assert_error_shape(gated.api.ok("POST", f"{GREET}/versions", 422, json=body))
    assert error["field"] == "template" and "line 1 column 11" in error["message"]
    assert "AKIAZ7Q3XK5TR2P4WJ6M" not in str(error)
    assert gated.api.ok("GET", GREET)["latest_version"] == 3


def test_a_version_with_tag_characters_is_422(gated: Gated) -> None:
    body = text_version("Hello \U000e0069\U000e0067 {{ name }}")
    error = assert_error_shape(gated.api.ok("POST", f"{GREET}/versions", 422, json=body))
    assert error["details"]["findings"][0]["kind"] == "invisible"


def test_a_version_write_returns_its_warnings(gated: Gated) -> None:
    written = gated.api.ok(
        "POST", f"{GREET}/versions", 201, json=text_version("Card 4111 1111 1111 1111 {{ name }}")
    )
    assert [w["kind"] for w in written["warnings"]] == ["pii"]
    clean = gated.api.ok("POST", f"{GREET}/versions", 201, json=text_version("Hi {{ name }}!"))
    assert clean["warnings"] == []


def test_the_gate_policy_is_set_and_kept_through_the_settings_api(gated: Gated) -> None:
    policy = {"labels": {"staging": {"suites": [{"suite": "builtin/security"}]}}}
    settings = {"protected_labels": ["prod"], "four_eyes": False, "gate_policy": policy}
    shown = gated.api.ok("PUT", f"{P}/settings", json=settings)
    assert shown["gate_policy"] == {
        "labels": {
            "staging": {
                "suites": [
                    {"suite": "builtin/security", "min_pass_rate": 1.0, "scope": "deterministic"}
                ]
            }
        }
    }
    again = gated.api.ok("PUT", f"{P}/settings", json={"protected_labels": ["prod"]})
    assert again["gate_policy"] == shown["gate_policy"]  # omitted: kept
    error = assert_error_shape(
        gated.api.ok(
            "PUT",
            f"{GREET}/labels/staging",
            409,
            json={"version": 3, "expected_version": None},
        )
    )
    assert error["code"] == "gate_refused"
    bad = {**settings, "gate_policy": {"labels": {"prod": {"suites": [{"suit": "x"}]}}}}
    error = assert_error_shape(gated.api.ok("PUT", f"{P}/settings", 422, json=bad))
    assert error["field"] == "gate_policy.labels.prod.suites[0].suit"


def test_loosening_the_gate_under_four_eyes_waits_for_another_admin(gated: Gated) -> None:
    gated.api.ok("PUT", f"{P}/settings", json={"protected_labels": ["prod"], "four_eyes": True})
    admin = gated.key("admin")
    body = {"protected_labels": ["prod"], "four_eyes": True, "gate_policy": {"labels": {}}}
    opened = admin.ok("PUT", f"{P}/settings", 202, json=body)
    assert opened["change_request"]["kind"] == "project.settings"
    assert "gate_policy" not in gated.api.ok("GET", f"{P}/settings")  # still the default


def test_with_the_gate_off_everything_passes_and_the_server_warns(
    runner: asyncio.Runner, make_store: Callable[[], SqlStore], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="promptstage.service.eval_gate"):
        app = create_app(Settings(admin_key=ADMIN_KEY, eval_gate=False), store=make_store())
    assert EVAL_GATE_OFF in caplog.text
    api = Api(runner, app, ADMIN_KEY)
    api.ok("POST", BASE, 201, json={"name": "shop"})
    api.ok("POST", f"{P}/prompts", 201, json={"name": "greet", "type": "text"})
    api.ok("POST", f"{GREET}/versions", 201, json=text_version("Hello {{ name }}"))
    api.ok("PUT", f"{GREET}/labels/prod", json={"version": 1, "expected_version": None})
    assert "gate" not in api.ok("GET", f"{GREET}/versions/1")
