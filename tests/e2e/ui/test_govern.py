"""The audit, calls and admin pages in a real browser: untrusted text never executes, and axe
finds no serious accessibility problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ..servers import ServerProcess
from .conftest import DEMO_PASSWORD, serious_violations, sign_in

pytestmark = pytest.mark.browser

PROJECT = "clinic"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def hostile_call(ui_server: ServerProcess) -> str:
    """A prompt whose template is a script tag, and a call of it whose output is an image tag
    with an error handler, ingested through the API with a runtime key; returns the call id."""
    api = ui_server.api()
    try:
        api.prompt(PROJECT, "xss-probe")
        number = api.version(PROJECT, "xss-probe", SCRIPT)
        path = f"/api/v1/projects/{PROJECT}/prompts/xss-probe/versions/{number}"
        digest = api.http.get(path).raise_for_status().json()["digest"]
        token, _ = api.key(PROJECT, "runtime")
        call = {
            "id": "xss-call", "prompt": "xss-probe", "label": "prod", "version": number,
            "digest": digest, "variables": {}, "output": IMG, "error": IMG,
            "context": {"note": SCRIPT},
        }  # fmt: skip
        answer = httpx.post(
            f"{ui_server.url}/api/v1/projects/{PROJECT}/calls",
            json={"calls": [call]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10.0,
        )
        assert answer.status_code == 202 and answer.json()["new"] == 1, answer.text
        # an admin to open the admin page (the demo has an editor and two releasers)
        api._call(
            "POST", f"/api/v1/projects/{PROJECT}/users",
            {"name": "ada", "password": DEMO_PASSWORD, "role": "admin"},
        )  # fmt: skip
    finally:
        api.close()
    return "xss-call"


def test_a_hostile_template_and_output_show_as_text_and_never_run(
    new_page: Any, hostile_call: str
) -> None:
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    sign_in(page, "erin")
    page.goto(f"/ui/p/{PROJECT}/calls/{hostile_call}")
    page.wait_for_load_state("load")
    assert page.locator("pre.rendered").inner_text() == SCRIPT
    assert page.locator("pre.output").inner_text() == IMG
    assert page.get_by_text(IMG, exact=True).first.is_visible()
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert dialogs == []
    # no console error (a CSP refusal would be one) but the favicon Chromium asks for itself
    assert {url.rsplit("/", 1)[-1] for url in missing} <= {"favicon.ico"}, missing
    assert [e for e in page.problems.errors if "status of 404" not in e] == []


def test_audit_calls_and_admin_pages_have_no_serious_accessibility_violation(
    new_page: Any, hostile_call: str
) -> None:
    page = new_page()
    sign_in(page, "ada")
    for path in ("audit", "calls", "admin", f"calls/{hostile_call}"):
        page.goto(f"/ui/p/{PROJECT}/{path}")
        assert serious_violations(page) == [], path
    page.goto(f"/ui/p/{PROJECT}/audit")
    page.get_by_role("link", name="Verify chain").click()  # htmx: the result swaps in
    page.locator("#verify-result").get_by_text("Chain intact").wait_for()
    assert page.url.endswith("/audit")
    assert serious_violations(page) == []
