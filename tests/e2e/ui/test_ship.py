"""Shipping in a real browser against ``promptstage serve --demo`` (project ``clinic``, where
``prod`` is protected and four-eyes is on): four-eyes with two people, a stale
compare-and-set, an editor refused a protected rollback, the editor's golden path, and axe."""

from __future__ import annotations

import re
from typing import Any

from .conftest import serious_violations, sign_in

P = "/ui/p/clinic"


def _csrf(page: Any) -> str:
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    assert token
    return str(token)


def test_four_eyes_alice_asks_cannot_approve_and_bob_approves(new_page: Any) -> None:
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(f"{P}/prompts/booking.system/promote?label=prod&version=3")
    assert alice.get_by_text("a second person (another releaser) must approve it").is_visible()
    alice.get_by_role("button", name="Ask for approval").click()
    alice.wait_for_url(re.compile(r".*/approvals/cr_[0-9a-f]+$"))
    why = alice.get_by_test_id("why-not")
    assert "four-eyes needs a different releaser than alice" in why.inner_text()
    assert alice.get_by_role("button", name="Approve and apply").count() == 0
    request_url = alice.url

    bob = new_page()  # a second browser context: another person
    sign_in(bob, "bob")
    bob.goto(request_url)
    bob.get_by_role("button", name="Approve and apply").click()
    bob.wait_for_url(request_url)
    assert bob.get_by_test_id("state").inner_text() == "approved"
    bob.goto(f"{P}/prompts/booking.system/promote?label=prod&version=3")
    assert bob.get_by_text("Label prod serves version 3 now.").is_visible()


def test_a_stale_compare_and_set_is_refused_and_changes_nothing(new_page: Any) -> None:
    erin = new_page()
    sign_in(erin, "erin")
    erin.goto(f"{P}/prompts/router.intent/promote?label=staging&version=1")
    assert erin.get_by_text("Label staging serves version 3 now.").is_visible()

    bob = new_page()  # moves the label while erin's form is open
    sign_in(bob, "bob")
    bob.goto(f"{P}/prompts/router.intent/promote?label=staging&version=2")
    bob.get_by_role("button", name="Move staging to v2").click()
    bob.wait_for_url(f"**{P}/prompts/router.intent")

    erin.get_by_role("button", name="Move staging to v1").click()
    stale = erin.get_by_test_id("stale")
    assert "Someone moved label staging meanwhile: nothing was changed." in stale.inner_text()
    assert "now serves version 2" in stale.inner_text()
    erin.goto(f"{P}/prompts/router.intent/promote?label=staging&version=1")
    assert erin.get_by_text("Label staging serves version 2 now.").is_visible()


def test_an_editor_sees_no_rollback_of_prod_and_a_forced_post_is_refused(new_page: Any) -> None:
    erin = new_page()
    sign_in(erin, "erin")
    erin.goto(f"{P}/prompts/sales.system/labels/prod/rollback")
    assert "releaser" in erin.get_by_test_id("refusal").inner_text()
    assert erin.get_by_role("button", name=re.compile("Roll back")).count() == 0
    forced = erin.request.post(
        f"{P}/prompts/sales.system/labels/prod/rollback",
        form={"csrf": _csrf(erin), "to_version": "1"},
    )
    assert forced.status == 403
    assert "Not allowed" in forced.text() and "releaser" in forced.text()
    erin.reload()
    assert erin.get_by_text("serves version 2 now").is_visible()


def test_erin_writes_a_version_with_the_live_preview_sees_the_diff_and_saves(
    new_page: Any,
) -> None:
    erin = new_page()
    sign_in(erin, "erin")
    erin.goto(f"{P}/prompts/booking.system/new")
    assert serious_violations(erin) == []  # axe on the editor page
    content = erin.locator("#f-content_0")
    content.fill(content.input_value() + " Always confirm the date twice.")
    erin.locator("#f-sample_0").fill("Sunrise Clinic")
    erin.locator("#f-sample_1").fill("Ann")
    erin.locator("#f-sample_2").fill("I need a dentist")
    preview = erin.get_by_test_id("preview")
    preview.get_by_text("Always confirm the date twice.").wait_for()  # htmx, as she typed
    assert "booking assistant of Sunrise Clinic" in preview.inner_text()
    erin.get_by_role("button", name="Review changes").first.click()
    erin.get_by_role("heading", name="What changes").wait_for()
    assert "Always confirm the date twice." in erin.locator("ins").first.inner_text()
    erin.get_by_label("Commit message").fill("confirm dates")
    erin.get_by_role("button", name="Save version").click()
    erin.wait_for_url(f"**{P}/prompts/booking.system?version=4")
    assert erin.get_by_text("Saved version 4 of booking.system.").is_visible()
