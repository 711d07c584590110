"""The browse pages in a real browser: untrusted prompt text never runs, and the overview and
prompt pages have no serious accessibility violation."""

from __future__ import annotations

from typing import Any

import pytest

from ..servers import ServerProcess
from .conftest import serious_violations, sign_in

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def _seed_hostile(server: ServerProcess) -> None:
    """A text prompt whose template is a script, a chat prompt whose message is an image with
    a handler, and a label moved with the image as its reason (shown on the overview)."""
    api = server.api()
    try:
        base = "/api/v1/projects/clinic/prompts"
        api._call("POST", base, {"name": "xss.text", "type": "text", "tags": [SCRIPT]})
        api.version("clinic", "xss.text", SCRIPT)
        api.version("clinic", "xss.text", f"{SCRIPT} and more")
        api._call("POST", base, {"name": "xss.chat", "type": "chat"})
        for extra in ("", " again"):
            api.version("clinic", "xss.chat", [{"role": "system", "content": IMG + extra}])
        api._call("PUT", f"{base}/xss.text/labels/staging", {"version": 1, "reason": IMG})
    finally:
        api.close()


def test_untrusted_prompt_text_shows_as_text_and_never_runs(
    new_page: Any, ui_server: ServerProcess
) -> None:
    _seed_hostile(ui_server)
    page = new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, "erin")

    page.goto("/ui/p/clinic?q=xss")
    assert page.get_by_text(IMG).first.is_visible()  # the move's reason, as text
    assert page.get_by_text(SCRIPT).first.is_visible()  # the tag, as text
    page.goto("/ui/p/clinic/prompts/xss.text?version=1")
    assert page.locator("pre", has_text=SCRIPT).first.is_visible()
    page.goto("/ui/p/clinic/prompts/xss.chat")
    assert page.locator("pre", has_text=IMG).first.is_visible()
    page.goto("/ui/p/clinic/prompts/xss.chat/diff?a=1&b=2")
    assert page.locator("pre.words", has_text=IMG).first.is_visible()
    page.goto("/ui/p/clinic/prompts/xss.text/diff?a=1&b=2")
    assert page.locator("pre.words", has_text=SCRIPT).first.is_visible()
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_overview_and_prompt_page_have_no_serious_accessibility_violation(
    new_page: Any,
) -> None:
    page = new_page()
    sign_in(page, "alice")  # a releaser sees every control the pages offer
    page.goto("/ui/p/clinic")
    assert page.get_by_role("link", name="booking.system").is_visible()
    assert serious_violations(page) == []
    page.goto("/ui/p/clinic/prompts/booking.system")
    assert page.get_by_role("heading", name="Label history").is_visible()
    assert serious_violations(page) == []
    page.goto("/ui/p/clinic/prompts/booking.system/diff?a=1&b=2")
    assert serious_violations(page) == []
