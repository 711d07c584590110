"""What every page of the UI guarantees: its security headers, no inline code, autoescaping,
and errors as pages."""

from __future__ import annotations

import re
from importlib.resources import files

from fastapi.testclient import TestClient

from promptstage.ui.templating import environment

from .conftest import sign_in

TEMPLATES = files("promptstage.ui") / "templates"


def test_pages_carry_a_strict_content_security_policy(browser: TestClient) -> None:
    for path in ("/ui/sign-in", "/ui/static/app.css"):
        csp = browser.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp


def test_no_template_holds_inline_script_style_or_event_handler() -> None:
    offenders = []
    for template in TEMPLATES.iterdir():
        text = template.read_text()
        for pattern in (r"<script(?![^>]*\bsrc=)", r"<style", r"\sstyle=", r"\son[a-z]+="):
            if re.search(pattern, text, re.IGNORECASE):
                offenders.append((template.name, pattern))
    assert offenders == []


def test_every_template_escapes_what_it_is_given() -> None:
    env = environment()
    assert env.autoescape is True
    rendered = env.from_string("{{ x }}").render(x="<script>alert(1)</script>")
    assert rendered == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_an_unknown_page_is_a_page_not_json(browser: TestClient) -> None:
    sign_in(browser, "erin")
    answer = browser.get("/ui/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "there is no page at /ui/no-such-page" in answer.text


def test_ui_routes_stay_out_of_the_openapi_document(browser: TestClient) -> None:
    paths = browser.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_htmx_is_vendored_with_its_licence(browser: TestClient) -> None:
    assert browser.get("/ui/static/htmx-2.0.11.min.js").status_code == 200
    assert "Zero-Clause BSD" in browser.get("/ui/static/htmx-LICENSE.txt").text
