"""Real-browser fixtures: a ``promptstage serve --demo`` process and Debian's Chromium driven
by Playwright. Browser tests skip, saying why, only where no Chromium is installed
(``apt-get install -y chromium``; ``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..servers import ServerProcess

CHROMIUM = os.environ.get("PROMPTSTAGE_TEST_CHROMIUM", "/usr/bin/chromium")
DEMO_PASSWORD = "demo-password-for-tests"
UI_SERVER_ENV = {"PROMPTSTAGE_DEMO": "true", "PROMPTSTAGE_DEMO_PASSWORD": DEMO_PASSWORD}
# As root and on a closed network: no sandbox, no background connections to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.browser


def _chromium_missing() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: make test installs the dev extra"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module.

    Not per session: Playwright's sync API keeps an asyncio loop running in the main thread
    while it is open, which would break every later test that calls ``asyncio.run``.
    """
    missing = _chromium_missing()
    if missing:
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``promptstage serve --demo`` on a SQLite file: project ``clinic``, users ``erin``
    (editor), ``alice`` and ``bob`` (releasers), all with :data:`DEMO_PASSWORD`."""
    folder = tmp_path_factory.mktemp("ui-server")
    server = ServerProcess(
        f"sqlite:///{folder / 'db.sqlite'}",
        folder,
        env=UI_SERVER_ENV,
    ).start()
    try:
        yield server
    finally:
        server.stop()


class PageProblems:
    """What a page reported that a user would never see: console errors (CSP violations are
    console errors) and uncaught exceptions. A test asserts there were none."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


@pytest.fixture
def new_page(browser: Any, ui_server: ServerProcess) -> Iterator[Callable[[], Any]]:
    """``new_page()``: a page in a fresh browser context (its own cookies) on the UI server;
    each page's console errors are asserted empty at the end of the test."""
    contexts: list[Any] = []
    problems: list[PageProblems] = []

    def make() -> Any:
        context = browser.new_context(base_url=ui_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        watcher = PageProblems()
        watcher.watch(page)
        problems.append(watcher)
        page.problems = watcher
        return page

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    reported = [e for p in problems for e in p.errors if not _expected(e)]
    assert not reported, f"the browser reported errors: {reported}"


def _expected(message: str) -> bool:
    """Console errors a test provokes on purpose (a refused request shows as a 4xx)."""
    return "status of 4" in message


def sign_in(page: Any, name: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/ui/sign-in")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/ui/**")
    assert "/ui/sign-in" not in page.url, page.content()


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's critical and serious accessibility violations on the current page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in results.response["violations"]
        if v["impact"] in ("critical", "serious")
    ]
