"""The audit trail, the call log and the admin pages, in-process."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from promptstage.service import audit, calls, labels, prompts, users
from promptstage.service.context import Context
from promptstage.store.sql import SqlStore
from support.audit import tamper

from .conftest import ADMIN_KEY, PROJECT, Ui, csrf_of, sign_in, sign_in_token

CONFIG = {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}}
VARIABLES = [{"name": "name", "type": "string", "required": True}]


def _prompt(ctx: Context, name: str = "greet", versions: int = 2) -> None:
    prompts.create_prompt(ctx, "ada (ui)", PROJECT, name, "text")
    for n in range(1, versions + 1):
        prompts.write_version(
            ctx, "erin (ui)", PROJECT, name, template=f"Hello {{{{ name }}}} #{n}",
            variables=VARIABLES, config=CONFIG,
        )  # fmt: skip


def _call(ctx: Context, call_id: str, **fields: Any) -> None:
    digest = prompts_digest(ctx, fields.get("prompt", "greet"), fields.get("version", 1))
    item = {
        "id": call_id, "prompt": "greet", "label": "prod", "version": 1, "digest": digest,
        **fields,
    }  # fmt: skip
    calls.ingest_calls(ctx, PROJECT, {"calls": [item]})


def prompts_digest(ctx: Context, prompt: str, version: int) -> str:
    with ctx.store.unit_of_work() as uow:
        found = uow.get_version(PROJECT, prompt, version)
    return found.digest if found is not None else "sha256:" + "0" * 64


def _post(client: TestClient, path: str, data: dict[str, Any], page: str) -> Any:
    return client.post(path, data={"csrf": csrf_of(client, page), **data})


def _texts(html: str, pattern: str) -> list[str]:
    return [unescape(m) for m in re.findall(pattern, html)]


# audit trail -------------------------------------------------------------------------------
def test_audit_rows_show_time_actor_action_object_reason_and_folded_states(
    ui: Ui, browser: TestClient
) -> None:
    _prompt(ui.ctx)
    labels.move_label(ui.ctx, "alice (ui)", PROJECT, "greet", "staging", 2, reason="<b>try</b>")
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/audit")
    assert page.status_code == 200
    assert "alice (ui)" in page.text and "label:greet/staging" in page.text
    assert "&lt;b&gt;try&lt;/b&gt;" in page.text and "<b>try</b>" not in page.text
    assert page.text.count("<details") >= 2  # before/after folded
    for action in ("label.move", "user.password", "change_request.approve"):
        assert f'<option value="{action}"' in page.text


def test_audit_filters_by_actor_action_prompt_and_time(ui: Ui, browser: TestClient) -> None:
    _prompt(ui.ctx, "greet")
    _prompt(ui.ctx, "bye", versions=1)
    labels.move_label(ui.ctx, "bob (key:abc)", PROJECT, "greet", "staging", 1, reason="r")
    sign_in(browser, "erin")
    by_bob = browser.get("/ui/p/shop/audit", params={"actor": "bob"}).text
    assert "bob (key:abc)" in by_bob and "erin (ui)" not in by_bob
    creates = browser.get("/ui/p/shop/audit", params={"action": "version.create"}).text
    assert sorted(_texts(creates, r'<td class="mono">(prompt:[^<]+)</td>')) == [
        "prompt:bye@1", "prompt:greet@1", "prompt:greet@2",
    ]  # fmt: skip
    about_bye = browser.get("/ui/p/shop/audit", params={"prompt": "bye"}).text
    assert sorted(_texts(about_bye, r'<td class="mono">([a-z_]+:[^<]+)</td>')) == [
        "prompt:bye", "prompt:bye@1",
    ]  # fmt: skip
    later = (ui.clock.now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert "No audit row matches" in browser.get("/ui/p/shop/audit", params={"since": later}).text
    earlier = browser.get("/ui/p/shop/audit", params={"until": later, "action": "label.move"})
    assert "label:greet/staging" in earlier.text


def test_audit_pages_on_the_server(ui: Ui, browser: TestClient) -> None:
    _prompt(ui.ctx)
    for i in range(60):
        labels.move_label(ui.ctx, "alice (ui)", PROJECT, "greet", "staging", 1 + i % 2)
    sign_in(browser, "erin")
    first = browser.get("/ui/p/shop/audit", params={"action": "label.move"}).text
    seqs = [int(s) for s in re.findall(r'<td class="mono">(\d+)</td>', first)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert older is not None and "action=label.move" in older.group(1)
    second = browser.get(unescape(older.group(1))).text
    rest = [int(s) for s in re.findall(r'<td class="mono">(\d+)</td>', second)]
    assert len(rest) == 10 and max(rest) < min(seqs)
    assert 'rel="next"' not in second and "← Newest" in second


def test_a_bad_filter_is_shown_next_to_its_field(browser: TestClient) -> None:
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/audit", params={"since": "yesterday"})
    assert page.status_code == 422
    assert 'id="e-since"' in page.text and "since must be an ISO-8601 date" in page.text
    page = browser.get("/ui/p/shop/audit", params={"since": "2026-12-07", "until": "2026-12-06"})
    assert page.status_code == 422 and 'id="e-until"' in page.text
    page = browser.get("/ui/p/shop/audit", params={"action": "label.teleport"})
    assert page.status_code == 422 and 'id="e-action"' in page.text


def test_verify_shows_an_intact_chain(ui: Ui, browser: TestClient) -> None:
    _prompt(ui.ctx)
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/audit/verify")
    assert page.status_code == 200 and "Chain intact" in page.text
    rows = len(audit.list_audit(ui.ctx, PROJECT, 500)[0])
    assert f"{rows} rows verified" in page.text
    fragment = browser.get("/ui/p/shop/audit/verify", headers={"HX-Request": "true"})
    assert "Chain intact" in fragment.text and "<html" not in fragment.text


def test_verify_shows_where_a_tampered_chain_breaks(
    ui: Ui, browser: TestClient, tmp_path: Path
) -> None:
    _prompt(ui.ctx)
    raw = SqlStore.from_url(f"sqlite:///{tmp_path / 'ui.sqlite'}")  # the file make_ui opened
    try:
        tamper(
            raw,
            "UPDATE audit SET reason = 'nothing to see' WHERE project = :p AND seq = 3",
            p=PROJECT,
        )
    finally:
        raw.close()
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/audit/verify")
    assert "Chain broken" in page.text and "Chain intact" not in page.text
    assert "at row 3: row content does not match its hash" in page.text


# calls -------------------------------------------------------------------------------------
def test_calls_filter_by_prompt_version_label_arm_and_time_and_page(
    ui: Ui, browser: TestClient
) -> None:
    _prompt(ui.ctx)
    start = ui.clock.now
    batch = []
    for i in range(55):
        batch.append({
            "id": f"c{i:02d}", "prompt": "greet", "version": 1 + i % 2,
            "label": "prod" if i % 5 else "staging", "arm": "canary" if i % 3 == 0 else "baseline",
            "digest": prompts_digest(ui.ctx, "greet", 1 + i % 2),
            "at": (start + timedelta(seconds=i)).isoformat(),
        })  # fmt: skip
    calls.ingest_calls(ui.ctx, PROJECT, {"calls": batch})
    sign_in(browser, "erin")
    ids = lambda html: re.findall(r'class="mono" href="[^"]+">(c\d+)</a>', html)  # noqa: E731
    first = browser.get("/ui/p/shop/calls").text
    assert ids(first) == [f"c{i:02d}" for i in range(54, 4, -1)]
    older = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert older is not None
    assert ids(browser.get(unescape(older.group(1))).text) == ["c04", "c03", "c02", "c01", "c00"]
    staging = browser.get("/ui/p/shop/calls", params={"label": "staging", "version": "1"}).text
    assert ids(staging) == ["c50", "c40", "c30", "c20", "c10", "c00"]
    canary = browser.get("/ui/p/shop/calls", params={"arm": "canary", "prompt": "greet"}).text
    assert ids(canary) == [f"c{i:02d}" for i in range(54, -1, -1) if i % 3 == 0]
    window = {
        "since": (start + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%S"),
        "until": (start + timedelta(seconds=13)).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    assert ids(browser.get("/ui/p/shop/calls", params=window).text) == ["c12", "c11", "c10"]
    bad = browser.get("/ui/p/shop/calls", params={"version": "two"})
    assert bad.status_code == 422 and 'id="e-version"' in bad.text


def test_a_call_page_replays_the_exact_version_with_its_variables(
    ui: Ui, browser: TestClient
) -> None:
    _prompt(ui.ctx)
    _call(
        ui.ctx, "call-1", version=1, variables={"name": "Ada"}, output="Hi Ada",
        latency_ms=321.5, tokens_in=12, tokens_out=7, cost=0.0021, release_id="rel_1",
        arm="canary", context={"tier": "gold"},
    )  # fmt: skip
    calls.ingest_scores(
        ui.ctx, PROJECT, {"scores": [{"call_id": "call-1", "name": "csat", "value": 4}]}
    )
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/calls/call-1").text
    assert '<pre class="rendered">Hello Ada #1</pre>' in page
    assert prompts_digest(ui.ctx, "greet", 1) in page
    assert 'href="/ui/p/shop/prompts/greet?version=1"' in page
    assert 'href="/ui/p/shop/releases/rel_1"' in page and "arm canary" in page
    for shown in ("321.5 ms", "Hi Ada", "0.002100", "tier", "csat", "4.0"):
        assert shown in page, shown


def test_a_call_without_variables_says_so(ui: Ui, browser: TestClient) -> None:
    _prompt(ui.ctx)
    _call(ui.ctx, "call-2", version=2, output={"text": "ok"})
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/calls/call-2").text
    assert "This call logged no variables" in page
    assert "cannot be rendered again" in page and 'class="rendered"' not in page
    assert "&#34;text&#34;: &#34;ok&#34;" in page or "&quot;text&quot;" in page


def test_a_replay_respects_the_rendered_size_limit(make_ui: Any) -> None:
    ui = make_ui(max_rendered_bytes=4096)
    _prompt(ui.ctx)
    _call(ui.ctx, "big", variables={"name": "x" * 5000})
    with ui.client() as client:
        sign_in(client, "erin")
        page = client.get("/ui/p/shop/calls/big").text
    assert "cannot render the call again" in page and "over the 4 KiB limit" in page


def test_call_output_and_prompt_text_are_escaped(ui: Ui, browser: TestClient) -> None:
    prompts.create_prompt(ui.ctx, "ada (ui)", PROJECT, "evil", "text")
    prompts.write_version(
        ui.ctx, "erin (ui)", PROJECT, "evil", template="<script>alert(1)</script>", config=CONFIG
    )
    _call(
        ui.ctx, "xss", prompt="evil", version=1, variables={},
        output="<img src=x onerror=alert(1)>", error="<svg onload=alert(2)>",
        context={"<i>k</i>": "<b>v</b>"},
    )  # fmt: skip
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/calls/xss").text
    for raw in ("<img src=x", "<script>alert", "<svg onload", "<i>k</i>", "<b>v</b>"):
        assert raw not in page, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_unknown_call_is_a_not_found_page(browser: TestClient) -> None:
    sign_in(browser, "erin")
    page = browser.get("/ui/p/shop/calls/nope")
    assert page.status_code == 404 and "no call" in page.text


# admin -------------------------------------------------------------------------------------
ADMIN = "/ui/p/shop/admin"


def _audit_of(ui: Ui, action: str) -> list[Any]:
    """The rows of ``action`` the test made (not the fixture's ``test`` actor)."""
    rows = audit.list_audit(ui.ctx, PROJECT, 500)[0]
    return [r for r in rows if r.action == action and r.actor != "test"]


@pytest.mark.parametrize("name", ["erin", "alice"])
def test_only_admins_see_the_admin_page(browser: TestClient, name: str) -> None:
    sign_in(browser, name)
    page = browser.get(ADMIN)
    assert page.status_code == 403
    assert "are for its admins" in page.text and "Create key" not in page.text


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/keys", {"role": "admin"}),
        ("/users", {"name": "mallory", "password": "x" * 20, "role": "admin"}),
        ("/users/erin/role", {"role": "admin"}),
        ("/users/ada/password", {"password": "y" * 20}),
        ("/settings", {"protected_labels": "", "four_eyes": ""}),
        ("/webhooks", {"url": "https://hooks.example.com/x"}),
    ],
)
def test_a_forced_admin_action_by_a_releaser_is_refused_with_a_page(
    ui: Ui, browser: TestClient, path: str, data: dict[str, str]
) -> None:
    sign_in(browser, "alice")
    before = len(audit.list_audit(ui.ctx, PROJECT, 500)[0])
    answer = browser.post(ADMIN + path, data={"csrf": csrf_of(browser), **data})
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "are for its admins" in answer.text
    assert len(audit.list_audit(ui.ctx, PROJECT, 500)[0]) == before  # nothing changed


def test_an_admin_manages_people_audited_as_herself(ui: Ui, browser: TestClient) -> None:
    sign_in(browser, "ada")
    page = browser.get(ADMIN)
    assert page.status_code == 200 and "erin" in page.text
    made = _post(
        browser,
        ADMIN + "/users",
        {"name": "pat", "password": "tulip marble canyon 42", "role": "editor"},
        ADMIN,
    )
    assert made.status_code == 303
    assert _post(browser, ADMIN + "/users/pat/role", {"role": "releaser"}, ADMIN).status_code == 303
    assert (
        _post(
            browser, ADMIN + "/users/pat/password", {"password": "violet harbor engine 7"}, ADMIN
        ).status_code
        == 303
    )
    assert _post(browser, ADMIN + "/users/pat/revoke", {}, ADMIN).status_code == 303
    for action in ("user.create", "user.role", "user.password", "user.revoke"):
        rows = _audit_of(ui, action)
        assert [r.actor for r in rows] == ["ada (ui)"], action
    assert "tulip marble" not in str(_audit_of(ui, "user.create")[0].after)


def test_a_refused_form_shows_the_error_next_to_the_field(ui: Ui, browser: TestClient) -> None:
    sign_in(browser, "ada")
    answer = _post(
        browser, ADMIN + "/users", {"name": "pat", "password": "short", "role": "editor"}, ADMIN
    )
    assert answer.status_code == 422
    assert 'id="e-user-password"' in answer.text and 'value="pat"' in answer.text
    assert _audit_of(ui, "user.create") == []


def test_a_created_key_token_is_shown_exactly_once(ui: Ui, browser: TestClient) -> None:
    sign_in(browser, "ada")
    _post(browser, ADMIN + "/principals", {"name": "booking-agent", "kind": "service"}, ADMIN)
    answer = _post(
        browser, ADMIN + "/keys",
        {"name": "agent", "role": "runtime", "principal": "booking-agent", "expires": "2027-01-31"},
        ADMIN,
    )  # fmt: skip
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    tokens = re.findall(r"ps_[0-9a-f]{12}_[0-9a-f]{64}", answer.text)
    assert len(tokens) == 1 and answer.text.count(tokens[0]) == 1
    token = tokens[0]
    prefix = token.split("_")[1]
    listing = browser.get(ADMIN).text
    assert prefix in listing and token not in listing and token.split("_")[2] not in listing
    assert "2027-01-31" in listing and "booking-agent" in listing
    created = _audit_of(ui, "key.create")
    assert [r.actor for r in created] == ["ada (ui)"] and token not in str(created[0].after)
    assert ui.app.state.authenticator.authenticate(token).role.value == "runtime"
    assert _post(browser, ADMIN + f"/keys/{prefix}/revoke", {}, ADMIN).status_code == 303
    assert [r.actor for r in _audit_of(ui, "key.revoke")] == ["ada (ui)"]
    assert "revoked" in browser.get(ADMIN).text


def test_weakening_governance_opens_a_request_and_strengthening_applies(
    ui: Ui, browser: TestClient
) -> None:
    sign_in(browser, "ada")
    stronger = {"protected_labels": "prod, staging", "four_eyes": "on", "reason": "more care"}
    assert _post(browser, ADMIN + "/settings", stronger, ADMIN).status_code == 303
    page = browser.get(ADMIN).text
    assert 'value="prod, staging"' in page
    weaker = {"protected_labels": "prod", "four_eyes": "on", "reason": "less"}
    answer = _post(browser, ADMIN + "/settings", weaker, ADMIN)
    assert answer.status_code == 303 and "/ui/p/shop/approvals/cr_" in answer.headers["location"]
    assert 'value="prod, staging"' in browser.get(ADMIN).text  # nothing changed yet
    assert "Opened change request" in unquote(answer.cookies.get("promptstage_notice") or "")
    opened = _audit_of(ui, "change_request.open")
    assert [r.actor for r in opened] == ["ada (ui)"]


def test_webhooks_are_created_with_a_secret_shown_once_and_deleted(
    ui: Ui, browser: TestClient
) -> None:
    sign_in(browser, "ada")
    answer = _post(
        browser, ADMIN + "/webhooks",
        {"url": "https://hooks.example.com/ps", "events": ["label.moved", "release.changed"]},
        ADMIN,
    )  # fmt: skip
    assert answer.status_code == 200
    secret = re.search(r"whsec_[0-9a-f]{48}", answer.text)
    assert secret is not None and answer.text.count(secret.group(0)) == 1
    listing = browser.get(ADMIN).text
    assert "https://hooks.example.com/ps" in listing and secret.group(0) not in listing
    assert "label.moved, release.changed" in listing and "none yet" in listing
    hook_id = re.search(r"Delete webhook (wh_[0-9a-f]+)", listing)
    assert hook_id is not None
    assert (
        _post(browser, ADMIN + f"/webhooks/{hook_id.group(1)}/delete", {}, ADMIN).status_code == 303
    )
    assert "hooks.example.com" not in browser.get(ADMIN).text
    assert [r.actor for r in _audit_of(ui, "webhook.delete")] == ["ada (ui)"]
    refused = _post(browser, ADMIN + "/webhooks", {"url": "http://127.0.0.1/x"}, ADMIN)
    assert refused.status_code == 422 and 'id="e-webhook-url"' in refused.text


def test_the_instance_admin_administers_any_project(ui: Ui, browser: TestClient) -> None:
    token = sign_in_token(browser)
    signed = browser.post("/ui/sign-in/key", data={"csrf": token, "key": ADMIN_KEY, "next": "/ui/"})
    assert signed.status_code == 303
    assert browser.get(ADMIN).status_code == 200
    answer = _post(
        browser, ADMIN + "/users/erin/password", {"password": "amber lantern river 9"}, ADMIN
    )
    assert answer.status_code == 303
    assert [r.actor for r in _audit_of(ui, "user.password")] == ["instance-admin"]


def test_a_project_admin_cannot_reset_the_password_of_someone_from_another_project(
    ui: Ui, browser: TestClient
) -> None:
    prompts.create_project(ui.ctx, "test", "other")
    users.grant(ui.ctx, "test", "other", "erin", "editor")
    sign_in(browser, "ada")
    answer = _post(
        browser, ADMIN + "/users/erin/password", {"password": "amber lantern river 9"}, ADMIN
    )
    assert answer.status_code == 403 and "only the instance admin" in answer.text
    assert _audit_of(ui, "user.password") == []
