"""Signing in and out in a real browser."""

from __future__ import annotations

from typing import Any

from .conftest import serious_violations, sign_in


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
