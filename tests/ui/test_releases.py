"""Release pages in process: the start form (strategies, rule builder, JSON, match preview,
four-eyes), the panel's actions by state and role, forced posts, and quality figures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptstage.service import calls, labels, prompts
from promptstage.service import releases as svc
from promptstage.ui import rulebuilder as rb

from .conftest import PROJECT, Ui, csrf_of, sign_in

CONFIG = {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}}
NEW = f"/ui/p/{PROJECT}/prompts/greet/releases/new"


@pytest.fixture
def seeded(ui: Ui) -> Ui:
    ctx = ui.ctx
    prompts.create_prompt(ctx, "test", PROJECT, "greet", "text")
    for n in (1, 2):
        prompts.write_version(ctx, "test", PROJECT, "greet", template=f"Hi v{n}", config=CONFIG)
    labels.move_label(ctx, "test", PROJECT, "greet", "staging", 1)
    labels.move_label(ctx, "test", PROJECT, "greet", "prod", 1, expect_absent=True)
    now = ui.clock()
    records = [
        {"id": f"c{i}", "prompt": "greet", "label": "staging", "version": 1 + i % 2,
         "digest": "sha256:" + "0" * 64, "context": {"country": "FR" if i % 3 else "BE", "tier": i},
         "latency_ms": 100.0 + i, "tokens_in": 3, "tokens_out": 4, "cost": 0.01,
         "error": "boom" if i % 5 == 0 else None, "at": now.isoformat()}
        for i in range(30)
    ]  # fmt: skip
    calls.ingest_calls(ctx, PROJECT, {"calls": records})
    calls.ingest_scores(
        ctx, PROJECT, {"scores": [{"call_id": "c1", "name": "csat", "value": 4, "source": "user"}]}
    )
    return ui


def signed(client: TestClient, name: str) -> str:
    assert sign_in(client, name).status_code == 303
    return csrf_of(client, NEW + "?label=staging&version=2")


def post(client: TestClient, token: str, **fields: Any) -> Any:
    data = {
        "csrf": token,
        "label": "staging",
        "version": "2",
        "strategy": "canary",
        "op": "start",
        **fields,
    }
    return client.post(NEW, data=data)


def test_start_form_offers_metrics_with_data(seeded: Ui, browser: TestClient) -> None:
    signed(browser, "alice")
    page = browser.get(NEW + "?label=staging&version=2")
    assert page.status_code == 200
    for metric in ("error_rate", "latency_ms", "cost", "csat"):
        assert f'name="guard" value="{metric}"' in page.text
    assert 'value="5"' in page.text  # the canary's default share


@pytest.mark.parametrize(
    ("strategy", "field", "share", "weights"),
    [("canary", "percent_canary", "5", [500]), ("ramp", "percent_ramp", "5, 25, 50, 100", [500, 2500, 5000, 10000]),
     ("ab", "percent_ab", "50", [5000])],
)  # fmt: skip
def test_start_each_strategy_lands_on_the_panel(
    seeded: Ui, browser: TestClient, strategy: str, field: str, share: str, weights: list[int]
) -> None:
    token = signed(browser, "alice")
    answer = post(
        browser, token, strategy=strategy, **{field: share}, guard=["error_rate", "csat"],
        **{"tol:csat": "0.1"}, unit_attribute="session_id", reason="try it",
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    release_id = answer.headers["location"].rsplit("/", 1)[1]
    release, history, _ = svc.get_release(seeded.ctx, PROJECT, release_id)
    assert [s.weight_bps for s in release.steps] == weights
    assert release.strategy == strategy and release.unit_attribute == "session_id"
    assert [g["metric"] for g in release.guardrails or ()] == ["error_rate", "csat"]
    assert release.guardrails and release.guardrails[1]["tolerance"] == 0.1
    assert history[0].actor == "alice (ui)"
    panel = browser.get(answer.headers["location"])
    assert panel.status_code == 200
    assert "canary (candidate)" in panel.text and 'hx-trigger="every 5s"' in panel.text
    assert f"step 1/{len(weights)}" in panel.text


def test_errors_show_next_to_the_field_and_nothing_starts(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    answer = post(browser, token, percent_canary="80")
    assert answer.status_code == 422
    assert '<p class="error">step 8000 bps has no control arm' in answer.text
    for share in ("nan", "inf", "five"):
        answer = post(browser, token, percent_canary=share)
        assert answer.status_code == 422 and "is not a percentage" in answer.text
    for tol in ("nan", "x"):
        answer = post(browser, token, guard=["csat"], **{"tol:csat": tol})
        assert answer.status_code == 422 and "tolerance" in answer.text
    answer = post(browser, token, version="1")
    assert answer.status_code == 422 and "already points at" in answer.text
    assert svc.list_releases(seeded.ctx, PROJECT)[0] == []


def test_rule_builder_adds_nests_and_removes_without_js(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    page = post(browser, token, op="add-rule:0")
    assert 'name="r:0.0:field"' in page.text
    page = post(browser, token, **{"r:0.0:field": "country", "r:0.0:operator": "=", "r:0.0:value": "FR"},
                op="add-group:0")  # fmt: skip
    assert 'name="r:0.1.0:field"' in page.text and 'value="country"' in page.text
    form = {
        "g:0:combinator": "and", "r:0.0:field": "country", "r:0.0:operator": "=", "r:0.0:value": "FR",
        "g:0.1:combinator": "or", "r:0.1.0:field": "tier", "r:0.1.0:operator": "<", "r:0.1.0:value": "10",
    }  # fmt: skip
    page = post(browser, token, **form, op="add-rule:0.1")
    assert 'name="r:0.1.1:field"' in page.text
    page = post(browser, token, **form, op="remove:0.0")
    assert 'name="r:0.0:field"' not in page.text and 'name="r:0.0.0:field"' in page.text
    # submitted: the nested group is saved as react-querybuilder JSON
    answer = post(browser, token, **form, op="start")
    assert answer.status_code == 303, answer.text
    (release,) = svc.list_releases(seeded.ctx, PROJECT)[0]
    assert release.targeting == {
        "combinator": "and", "not": False,
        "rules": [{"field": "country", "operator": "=", "value": "FR"},
                  {"combinator": "or", "not": False, "rules": [{"field": "tier", "operator": "<", "value": "10"}]}],
    }  # fmt: skip


def test_builder_error_is_shown_at_the_rule(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    answer = post(browser, token, **{"r:0.0:field": "country", "r:0.0:operator": "in", "r:0.0:value": ""},
                  op="start")  # fmt: skip
    assert answer.status_code == 422
    assert re.search(r'name="r:0.0:value"[^>]*aria-invalid="true"', answer.text)
    assert "in needs at least one value" in answer.text


def test_json_textarea_round_trips_with_the_builder(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    rules = {"combinator": "or", "not": True, "rules": [
        {"field": "country", "operator": "in", "value": ["FR", "B,E"]},
        {"combinator": "and", "not": False, "rules": [{"field": "tier", "operator": "between", "value": [1, 5]}]}]}  # fmt: skip
    page = post(
        browser, token, op="refresh", targeting_source="json", targeting_json=json.dumps(rules)
    )
    assert page.status_code == 200
    assert 'name="r:0.1.0:field" value="tier"' in page.text
    assert 'value="FR,B\\,E"' in page.text
    shown = re.search(
        r'<textarea id="f-targeting_json" name="targeting_json">(.*?)</textarea>', page.text, re.S
    )
    assert shown
    import html

    assert rb.from_json(json.loads(html.unescape(shown.group(1)))) == rb.from_json(
        {
            **rules,
            "rules": [
                {"field": "country", "operator": "in", "value": "FR,B\\,E"},
                rules["rules"][1],
            ],
        }
    )
    bad = post(browser, token, op="refresh", targeting_source="json", targeting_json="{nope")
    assert bad.status_code == 422 and "targeting_json: not JSON" in bad.text


def test_match_preview_counts_recent_contexts(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    page = post(browser, token, **{"r:0.0:field": "country", "r:0.0:operator": "=", "r:0.0:value": "BE"},
                op="preview")  # fmt: skip
    assert "10 of the last 30 calls match these rules" in page.text
    page = post(browser, token, op="preview")
    assert "30 of the last 30 calls match" in page.text


def test_four_eyes_opens_a_change_request(seeded: Ui, browser: TestClient) -> None:
    token = signed(browser, "alice")
    answer = post(browser, token, label="prod")
    assert answer.status_code == 303
    assert re.match(rf"/ui/p/{PROJECT}/approvals/\w+", answer.headers["location"])
    assert svc.list_releases(seeded.ctx, PROJECT)[0] == []


def test_editor_gets_no_start_button_and_a_forced_post_is_refused(
    seeded: Ui, browser: TestClient
) -> None:
    token = signed(browser, "erin")
    page = browser.get(NEW + "?label=staging&version=2")
    assert page.status_code == 200 and 'value="start"' not in page.text
    answer = post(browser, token, op="start")
    assert answer.status_code == 403
    assert "releaser" in answer.text and "Traceback" not in answer.text
    assert svc.list_releases(seeded.ctx, PROJECT)[0] == []


def _start(ui: Ui, **extra: Any) -> str:
    fields = {
        "prompt": "greet",
        "label": "staging",
        "candidate_version": 2,
        "strategy": "ramp",
        **extra,
    }
    return svc.start_release(ui.ctx, "test", PROJECT, **fields).id


def _buttons(text: str) -> set[str]:
    return set(re.findall(r'action="/ui/p/shop/releases/rel_\w+/(\w+)"', text))


def test_panel_actions_follow_state_and_role(seeded: Ui, browser: TestClient) -> None:
    release_id = _start(seeded)
    url = f"/ui/p/{PROJECT}/releases/{release_id}"
    token = signed(browser, "alice")
    assert _buttons(browser.get(url).text) == {"advance", "pause", "promote", "rollback", "abort"}
    answer = browser.post(url + "/pause", data={"csrf": token, "reason": "look closer"})
    assert answer.status_code == 303
    assert _buttons(browser.get(url).text) == {"resume", "promote", "rollback", "abort"}
    assert browser.post(url + "/advance", data={"csrf": token}).status_code == 409
    browser.post(url + "/rollback", data={"csrf": token})
    final = browser.get(url)
    assert _buttons(final.text) == set() and 'hx-trigger="every 5s"' not in final.text
    assert browser.get(url, headers={"HX-Request": "true"}).status_code == 286  # htmx stops polling
    assert svc.get_release(seeded.ctx, PROJECT, release_id)[0].state == "rolled_back"


def test_editor_sees_no_action_and_forced_action_is_refused(
    seeded: Ui, browser: TestClient
) -> None:
    release_id = _start(seeded)
    url = f"/ui/p/{PROJECT}/releases/{release_id}"
    token = signed(browser, "erin")
    assert _buttons(browser.get(url).text) == set()
    answer = browser.post(url + "/abort", data={"csrf": token})
    assert answer.status_code == 403 and "releaser" in answer.text
    assert svc.get_release(seeded.ctx, PROJECT, release_id)[0].state == "running"
    assert browser.post(url + "/abort", data={}).status_code == 403  # no CSRF token


def test_releases_list_shows_running_first(seeded: Ui, browser: TestClient) -> None:
    ended = _start(seeded)
    svc.act(seeded.ctx, "test", PROJECT, ended, "abort")
    running = _start(seeded, strategy="canary")
    signed(browser, "erin")
    page = browser.get(f"/ui/p/{PROJECT}/releases")
    assert page.status_code == 200
    assert page.text.index(running) < page.text.index(ended)
    only = browser.get(f"/ui/p/{PROJECT}/releases?state=aborted")
    assert ended in only.text and running not in only.text
    assert browser.get(f"/ui/p/{PROJECT}/releases?state=nope").status_code == 422


def test_quality_figures_from_seeded_calls(seeded: Ui, browser: TestClient) -> None:
    signed(browser, "erin")
    page = browser.get(f"/ui/p/{PROJECT}/prompts/greet/quality?days=7")
    assert page.status_code == 200
    text = page.text
    # v1: the even calls 0..28 (errors at 0, 10, 20; latencies 100..128); v2 the odd ones
    row = re.search(
        r'<th scope="row">v1</th><td>15</td>\s*<td>20.00 %</td>\s*<td>114</td><td>128</td><td>128</td>',
        text,
    )
    assert row, text
    assert re.search(
        r'<th scope="row">v2</th><td>15</td>\s*<td>20.00 %</td>\s*<td>115</td><td>129</td><td>129</td>',
        text,
    )
    assert re.search(r'<th scope="row">staging</th><td>30</td>', text)
    assert "csat" in text and 'class="chart series-chart"' in text
    assert browser.get(f"/ui/p/{PROJECT}/prompts/greet/quality?days=0").status_code == 422


def test_a_second_release_of_the_label_is_refused_inline(seeded: Ui, browser: TestClient) -> None:
    first = _start(seeded, strategy="canary")
    token = signed(browser, "alice")
    answer = post(browser, token)
    assert answer.status_code == 409
    assert re.search(
        r'<p class="error">[^<]*already has an active release[^<]*' + first, answer.text
    )
    assert 'name="label"' in answer.text  # the form is still there, filled in


def test_panel_draws_each_guardrail_interval_and_refreshes_as_a_fragment(
    seeded: Ui, browser: TestClient
) -> None:
    release_id = _start(seeded, strategy="canary", guardrails=[{"metric": "error_rate"}])
    at = seeded.clock().isoformat()
    records = [
        {"id": f"r{i}", "prompt": "greet", "label": "staging", "version": 2 if arm == "canary" else 1,
         "digest": "sha256:" + "0" * 64, "release_id": release_id, "arm": arm, "unit_hash": f"{arm}-u{i}",
         "error": "boom" if arm == "canary" and i % 2 else None, "at": at}
        for arm in ("canary", "control") for i in range(12)
    ]  # fmt: skip
    calls.ingest_calls(seeded.ctx, PROJECT, {"calls": records})
    signed(browser, "erin")
    url = f"/ui/p/{PROJECT}/releases/{release_id}"
    page = browser.get(url)
    assert page.status_code == 200
    assert '<svg class="chart interval-chart" role="img"' in page.text
    assert (
        "error_rate: estimated difference 0.5" in page.text
    )  # 6 of 12 canary units erred, none of control
    assert re.search(r"canary \(candidate\)</th><td>v2</td><td>12</td>", page.text)
    fragment = browser.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "interval-chart" in fragment.text


def test_unticked_auto_rollback_and_pause_on_missing_data_are_kept(
    seeded: Ui, browser: TestClient
) -> None:
    token = signed(browser, "alice")
    answer = post(browser, token, auto_rollback_sent="1", on_insufficient_data="pause")
    assert answer.status_code == 303, answer.text
    (release,) = svc.list_releases(seeded.ctx, PROJECT)[0]
    assert release.auto_rollback is False and release.on_insufficient_data == "pause"
    assert release.guardrails is None  # none ticked: the controller's defaults
