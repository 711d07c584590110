"""The dependency catalog page: entries with the labels serving them, drift, retirements."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from promptstage.domain.deps import parse_spec
from promptstage.service import calls, deps, labels, prompts

from .conftest import PROJECT, Ui, sign_in


def test_the_catalog_page_shows_entries_their_labels_drift_and_retirements(
    ui: Ui, browser: TestClient
) -> None:
    ctx = ui.ctx
    deps.register(ctx, "erin", PROJECT, "index", "kb", "7")
    deps.register(ctx, "erin", PROJECT, "model", "openai/gpt-4o", "2024-08-06")
    today = ctx.clock().date()
    deps.set_retirement(ctx, "erin", PROJECT, parse_spec("model:openai/gpt-4o@2024-08-06"),
                        date.fromordinal(today.toordinal() + 30))  # fmt: skip
    prompts.create_prompt(ctx, "erin", PROJECT, "agent", "text")
    v, _ = prompts.write_version(ctx, "erin", PROJECT, "agent", template="Hi",
                                 config={"model": {"model": "openai/gpt-4o@2024-08-06"},
                                         "retrieval": {"index": "kb@7"}})  # fmt: skip
    labels.move_label(ctx, "erin", PROJECT, "agent", "staging", 1)
    calls.ingest_calls(ctx, PROJECT, {"calls": [
        {"id": "c1", "prompt": "agent", "label": "staging", "version": 1, "digest": v.digest,
         "model": "gpt-4o-2024-11-20"},
    ]})  # fmt: skip
    sign_in(browser, "erin")
    page = browser.get(f"/ui/p/{PROJECT}/deps")
    assert page.status_code == 200, page.text
    html = page.text
    assert "index:kb@7" in html and "agent:staging" in html
    assert "retires on" in html and "(30 days)" in html
    assert "gpt-4o-2024-11-20" in html  # the drift row
    assert 'aria-current="page">Dependencies' in html
