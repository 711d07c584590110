"""The evaluation gate in a real browser: ``promptstage serve --demo`` with the gate ON and its
eval clients pointing at a fake model (behaviour ``refuse``) on 127.0.0.1. alice sees a new
version of booking.system blocked from prod by builtin/security, runs the required suite,
watches the run finish, and finds the gate allowing the version; axe on the run page and the
gate box.

The new version (v4) is v3 with its variables optional: builtin/security's probes do not fill
the demo prompts' required variables (``clinic_name``, ``customer``), so on v3 every case is a
render error and the gate rightly stays shut."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.fake_model import running_fake_model

from ..servers import ServerProcess
from .conftest import DEMO_PASSWORD, serious_violations, sign_in

P = "/ui/p/clinic"
API = "/api/v1/projects/clinic/prompts/booking.system/versions"
PROMOTE = f"{P}/prompts/booking.system/promote?label=prod&version=4"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The demo server with the evaluation gate ON, calling the fake model."""
    folder = tmp_path_factory.mktemp("ui-evals")
    with running_fake_model("refuse") as model:
        server = ServerProcess(
            f"sqlite:///{folder / 'db.sqlite'}",
            folder,
            env={
                "PROMPTSTAGE_DEMO": "true",
                "PROMPTSTAGE_DEMO_PASSWORD": DEMO_PASSWORD,
                "PROMPTSTAGE_EVAL_GATE": "1",
                "PROMPTSTAGE_EVAL_OPENAI_BASE_URL": model.openai_base_url,
                "PROMPTSTAGE_EVAL_ANTHROPIC_BASE_URL": model.anthropic_base_url,
                "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV": "PS_E2E_FAKE_KEY",
                "PS_E2E_FAKE_KEY": "sk-fake-e2e",
                "PROMPTSTAGE_EVAL_POLL_SECONDS": "0.2",
            },
        ).start()
        try:
            auth = {"Authorization": f"Bearer {server.admin_key}"}
            v3 = httpx.get(f"{server.url}{API}/3", headers=auth).json()
            body = {
                "template": v3["template"],
                "variables": [{**v, "required": False} for v in v3["variables"]],
                "config": v3["config"],
                "message": "variables optional",
            }
            made = httpx.post(f"{server.url}{API}", headers=auth, json=body)
            assert made.status_code == 201 and made.json()["version"] == 4, made.text
            yield server
        finally:
            server.stop()


def test_a_blocked_promotion_runs_the_required_suite_and_is_then_allowed(new_page: Any) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(PROMOTE)
    box = alice.get_by_test_id("gate-box")
    assert "blocked" in box.inner_text() and "builtin/security" in box.inner_text()
    assert alice.get_by_label("Override the gate (admins): reason").count() == 0
    assert serious_violations(alice) == []

    alice.get_by_role("button", name="Run the required suites").click()
    alice.wait_for_url(re.compile(r".*/evals/runs/run_[0-9a-f]+$"))
    run_url = alice.url
    # htmx polls the progress until the run is final (then the server answers 286)
    final = alice.locator("[data-status]:not([data-status=queued]):not([data-status=running])")
    final.wait_for(timeout=60_000)
    assert final.get_attribute("data-status") == "passed", alice.locator(
        ".eval-case .error"
    ).first.text_content()
    progress = alice.get_by_test_id("progress").inner_text()
    done, total = progress.split("/")
    assert done == total and int(total) > 10
    assert serious_violations(alice) == []

    alice.goto(PROMOTE)
    box = alice.get_by_test_id("gate-box")
    assert "allowed" in box.inner_text()
    assert run_url.rsplit("/", 1)[1] in box.inner_text()
    assert alice.get_by_role("button", name="Run the required suites").count() == 0
    assert serious_violations(alice) == []
