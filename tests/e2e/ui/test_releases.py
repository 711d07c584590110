"""Releases in a real browser: a releaser starts a 5 % canary from the start form and lands on
the live release panel; the start form and the panel pass axe."""

from __future__ import annotations

from typing import Any

from .conftest import serious_violations, sign_in

# booking.system in the demo: prod -> v2, staging -> v3 (four-eyes guards prod), so a canary
# of v2 on staging starts at once.
START = "/ui/p/clinic/prompts/booking.system/releases/new?label=staging&version=2"


def test_alice_starts_a_canary_and_sees_the_panel(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "alice")
    page.goto(START)
    assert page.get_by_label("Canary share (%)").input_value() == "5"
    assert serious_violations(page) == []
    page.get_by_role("button", name="Add rule", exact=True).click()  # re-renders the form
    page.locator('[name="r:0.0:field"]').fill("channel")
    page.locator('[name="r:0.0:value"]').fill("web")
    page.get_by_role("button", name="Preview matching calls").click()
    assert "calls match these rules" in page.get_by_role("status").inner_text()
    assert page.locator('[name="r:0.0:field"]').input_value() == "channel"
    page.get_by_label("Reason (kept in the audit trail)").fill("browser canary")
    page.get_by_role("button", name="Start release").click()
    page.wait_for_url("**/ui/p/clinic/releases/rel_*")
    assert page.get_by_role("heading", name="Arms").is_visible()
    assert page.get_by_role("rowheader", name="canary (candidate)").is_visible()
    assert page.get_by_text("step 1/1 · candidate share 5 %").is_visible()
    assert '"field":"channel"' in page.get_by_text("channel").first.inner_text().replace(" ", "")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Abort").click()  # leave the demo as it was
    page.wait_for_url("**/ui/p/clinic/releases/rel_*")
    assert page.get_by_text("aborted").first.is_visible()
