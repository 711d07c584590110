"""Signing in and out in a real browser."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..servers import ServerProcess
from .conftest import UI_SERVER_ENV, serious_violations, sign_in


def test_a_person_signs_in_sees_their_projects_and_signs_out(new_page: Any) -> None:
    page = new_page()
    page.goto("/ui/")
    assert "/ui/sign-in" in page.url  # not signed in: sent to the sign-in form, then back
    sign_in(page, "erin")
    assert page.get_by_role("link", name="clinic").first.is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/sign-in**")
    assert page.get_by_text("You are signed out.").is_visible()
    page.goto("/ui/")
    assert "/ui/sign-in" in page.url


def test_a_wrong_password_is_refused_with_one_message(new_page: Any) -> None:
    page = new_page()
    page.goto("/ui/sign-in")
    page.get_by_label("Name").fill("erin")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "wrong name or password"


def test_the_sign_in_page_has_no_serious_accessibility_violation(new_page: Any) -> None:
    page = new_page()
    page.goto("/ui/sign-in")
    assert serious_violations(page) == []


def test_a_post_without_the_csrf_token_is_refused_in_the_browser(new_page: Any) -> None:
    page = new_page()
    sign_in(page, "erin")
    refused = page.request.post("/ui/sign-out", form={})
    assert refused.status == 403 and "security token" in refused.text()
    page.goto("/ui/")
    assert "/ui/sign-in" not in page.url  # still signed in: nothing changed


def test_an_expired_session_sends_the_browser_back_to_sign_in(browser: Any, tmp_path: Path) -> None:
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'db.sqlite'}",
        tmp_path,
        env={
            **UI_SERVER_ENV,
            "PROMPTSTAGE_UI_SESSION_ABSOLUTE_HOURS": "0.001",  # 3.6 s, however active
        },
    ).start()
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        sign_in(page, "erin")
        page.goto("/ui/")
        assert "/ui/sign-in" not in page.url
        time.sleep(4)
        page.goto("/ui/")
        assert "/ui/sign-in" in page.url
    finally:
        context.close()
        server.stop()
