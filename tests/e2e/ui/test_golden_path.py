"""The non-engineer's golden path, end to end in a real browser against a real server, with an
SDK client in another process: an editor writes a version, a releaser starts a 5 % canary and
watches its panel, then rolls ``prod`` back with the button, and the client serves the old
version within a second."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from ..servers import ServerProcess
from .conftest import sign_in

P = "/ui/p/clinic"
PROMPT = f"{P}/prompts/booking.system"

# Runs in its own process: prints "<unix time> <version>" each time what `prod` serves changes.
WATCHER = """
import sys, time
from promptstage import Client
url, token = sys.argv[1:3]
with Client(url, "clinic", token, init_timeout=10.0) as ps:
    last = None
    while True:
        version = ps.get("booking.system", label="prod").version
        if version != last:
            print(f"{time.time():.4f} {version}", flush=True)
            last = version
        time.sleep(0.002)
"""


def _watch(ui_server: ServerProcess) -> tuple[subprocess.Popen[str], int]:
    api = ui_server.api()
    try:
        token, _ = api.key("clinic", "runtime")
    finally:
        api.close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHER, ui_server.url, token],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first, "the SDK client printed nothing"
    return proc, int(first[1])


def test_edit_canary_and_one_click_rollback(new_page: Any, ui_server: ServerProcess) -> None:
    # An editor writes a new version with the live preview, sees the diff, saves it.
    erin = new_page()
    sign_in(erin, "erin")
    erin.get_by_role("link", name="clinic").first.click()
    erin.get_by_role("link", name="booking.system", exact=True).first.click()
    erin.get_by_role("link", name="New version").first.click()
    content = erin.locator("#f-content_0")
    content.fill(content.input_value() + " Read the booked slot back to the patient.")
    for index, sample in enumerate(("Harbour Clinic", "Ann", "Can I see Dr Lee on Friday?")):
        erin.locator(f"#f-sample_{index}").fill(sample)
    erin.get_by_test_id("preview").get_by_text("Read the booked slot back").wait_for()
    erin.get_by_role("button", name="Review changes").first.click()
    assert "Read the booked slot back" in erin.locator("ins").first.inner_text()
    erin.get_by_label("Commit message").fill("read the slot back")
    erin.get_by_role("button", name="Save version").click()
    erin.wait_for_url(f"**{PROMPT}?version=*")
    saved = int(erin.url.rsplit("=", 1)[1])

    # A releaser starts a 5 % canary of it and sees the release panel.
    alice = new_page()
    sign_in(alice, "alice")
    alice.goto(f"{PROMPT}/releases/new?label=staging&version={saved}")
    assert alice.get_by_label("Canary share (%)").input_value() == "5"
    alice.get_by_role("button", name="Start release").click()
    alice.wait_for_url(f"**{P}/releases/rel_*")
    assert alice.get_by_role("rowheader", name="canary (candidate)").is_visible()
    assert alice.get_by_text("candidate share 5 %").is_visible()

    # prod misbehaves: she rolls it back with the button, and an SDK client in another
    # process serves the old version within a second.
    watcher, serving = _watch(ui_server)
    try:
        alice.goto(PROMPT)
        alice.get_by_role("link", name="Roll back prod").click()
        dialog = alice.locator("dialog#dialog")
        dialog.get_by_role("heading", name="Roll back prod?").wait_for()
        button = dialog.get_by_role("button", name="Roll back prod to v")
        previous = int(button.inner_text().rsplit("v", 1)[1])
        assert previous != serving
        dialog.get_by_label("Reason (optional)").fill("customers complain about the new wording")
        clicked = time.time()
        button.click()
        assert watcher.stdout is not None
        seen_at, version = watcher.stdout.readline().split()
        assert int(version) == previous
        assert float(seen_at) - clicked < 1.0, f"the client took {float(seen_at) - clicked:.3f} s"
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
        assert watcher.stdout is not None
        watcher.stdout.close()
    alice.get_by_text(f"serves version {previous}").first.wait_for()

    # The overview shows the old version on prod, and who moved it back, and why.
    alice.goto(f"{P}?q=booking.system")
    columns = [h.inner_text() for h in alice.locator("table.live thead th").all()]
    row = alice.locator("table.live tbody tr").filter(
        has=alice.get_by_role("link", name="booking.system", exact=True)
    )
    prod = row.locator("td").nth(columns.index("prod") - 1).inner_text()
    assert prod.startswith(f"v{previous}") and "customers complain" in prod, prod
