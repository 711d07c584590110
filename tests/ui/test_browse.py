"""The browse pages (home, overview, prompt page, diff), in process: what they show, their
filters and pages, the controls each role is offered, and errors as pages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from promptstage.service import labels, prompts, releases
from promptstage.service.context import Context

from .conftest import PROJECT, Ui, sign_in

CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "gpt-4o-2024-08-06"},
    "params": {"temperature": 0.2},
}
TOOL = {
    "name": "book_slot",
    "description": "Book an appointment",
    "parameters": {"type": "object", "properties": {"slot_id": {"type": "string"}}},
}


def _prompt(ctx: Context, name: str, *templates: str, tags: list[str] | None = None) -> None:
    prompts.create_prompt(ctx, "test", PROJECT, name, "text", tags=tags or [])
    for n, template in enumerate(templates, 1):
        config = {**CONFIG, "tools": [TOOL]} if n > 1 else CONFIG
        prompts.write_version(
            ctx, "ana", PROJECT, name, template=template, config=config, message=f"m{n}"
        )


@pytest.fixture
def shop(ui: Ui) -> Ui:
    """booking.system (3 versions, prod v1 after a rollback, staging on a 5 % canary),
    booking.router and billing.system (tagged), and triage."""
    ctx = ui.ctx
    _prompt(ctx, "booking.system", "You are a helpful assistant.", "You are a terse assistant.",
            "You are a terse, kind assistant.", tags=["voice"])  # fmt: skip
    _prompt(ctx, "booking.router", "Route {{ intent }}", tags=["voice"])
    _prompt(ctx, "billing.system", "Bill", tags=["money"])
    _prompt(ctx, "triage", "Triage")
    labels.move_label(ctx, "alice (ui)", PROJECT, "booking.system", "prod", 1)
    labels.move_label(ctx, "alice (ui)", PROJECT, "booking.system", "prod", 2, reason="ship it")
    labels.rollback_label(ctx, "bob (ui)", PROJECT, "booking.system", "prod", reason="too curt")
    labels.move_label(ctx, "erin (ui)", PROJECT, "booking.system", "staging", 2)
    releases.start_release(
        ctx, "alice (ui)", PROJECT, prompt="booking.system", label="staging",
        candidate_version=3, strategy="canary",
    )  # fmt: skip
    labels.move_label(ctx, "erin (ui)", PROJECT, "booking.router", "dev", 1)
    return ui


def _signed_in(ui: Ui, name: str) -> TestClient:
    client = ui.client()
    assert sign_in(client, name).status_code == 303
    return client


def _cells(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", row) for row in body.split("<tr>")[1:]]


def test_home_lists_projects_with_prompt_and_agent_counts(shop: Ui) -> None:
    prompts.create_project(shop.ctx, "test", "secret-project")
    page = _signed_in(shop, "erin").get("/ui/")
    assert page.status_code == 200
    # booking.system, booking.router -> booking; billing; triage: 3 agents, 4 prompts
    row = _cells(page.text)[0]
    assert ">shop</a>" in row and '<td class="num">3</td> <td class="num">4</td>' in row
    assert "secret-project" not in page.text  # erin holds no role there
    assert "before its first dot" in page.text


def test_overview_shows_what_is_live_where(shop: Ui) -> None:
    page = _signed_in(shop, "erin").get("/ui/p/shop")
    assert page.status_code == 200
    header = page.text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th scope="col">([^<]+)</th>', header) == [
        "Prompt", "prod", "staging", "dev", "latest",
    ]  # fmt: skip
    rows = {re.search(r'prompts/([^"?]+)"', r).group(1): r for r in _cells(page.text)}  # type: ignore[union-attr]
    assert list(rows) == ["billing.system", "booking.router", "booking.system", "triage"]
    system = rows["booking.system"]
    assert 'href="/ui/p/shop/prompts/booking.system?version=1" class="ver">v1</a>' in system
    assert "bob (ui)" in system and "rollback" in system and "<q>too curt</q>" in system
    assert 'class="badge info"' in system and "canary 5 %" in system
    assert "2026-12-07 09:00 UTC" in system
    assert system.count('class="ver"') == 3  # prod, staging, latest; no dev


def test_overview_filters_by_name_tag_and_label(shop: Ui) -> None:
    client = _signed_in(shop, "erin")

    def shown(query: str) -> list[str]:
        page = client.get(f"/ui/p/shop?{query}")
        assert page.status_code == 200, page.text
        if "<tbody>" not in page.text:
            return []
        return [re.search(r'prompts/([^"?]+)"', r).group(1) for r in _cells(page.text)]  # type: ignore[union-attr]

    assert shown("q=SYSTEM") == ["billing.system", "booking.system"]
    assert shown("tag=voice") == ["booking.router", "booking.system"]
    assert shown("label=dev") == ["booking.router"]
    assert shown("q=booking&tag=voice&label=prod") == ["booking.system"]
    assert shown("q=nothing-like-this") == []
    assert "No prompt matches these filters" in client.get("/ui/p/shop?q=zzz").text
    bad = client.get("/ui/p/shop?label=Not%20A%20Label")
    assert bad.status_code == 422 and "label" in bad.text and "not a valid name" in bad.text


def test_overview_paginates_with_stable_urls(ui: Ui) -> None:
    for n in range(53):
        prompts.create_prompt(ui.ctx, "test", PROJECT, f"agent{n % 7}.p{n:03d}", "text")
    client = _signed_in(ui, "erin")
    first = client.get("/ui/p/shop?q=agent")
    assert len(_cells(first.text)) == 50
    found = re.search(r'href="(/ui/p/shop\?q=agent&amp;cursor=[^"]+)" rel="next"', first.text)
    assert found, "the next page keeps the filter in its URL"
    second = client.get(found.group(1).replace("&amp;", "&"))
    assert len(_cells(second.text)) == 3 and 'rel="next"' not in second.text
    assert 'href="/ui/p/shop?q=agent">← First page' in second.text
    names = [
        re.search(r'prompts/([^"?]+)"', r).group(1)  # type: ignore[union-attr]
        for r in _cells(first.text) + _cells(second.text)
    ]
    assert names == sorted(names) and len(set(names)) == 53
    assert client.get("/ui/p/shop?cursor=garbage").status_code == 422


def test_prompt_page_shows_versions_snapshot_history_and_snippet(shop: Ui) -> None:
    page = _signed_in(shop, "erin").get("/ui/p/shop/prompts/booking.system?version=2")
    assert page.status_code == 200
    text = page.text
    version = prompts.get_version(shop.ctx, PROJECT, "booking.system", 2)
    assert f'title="{version.digest}"' in text and version.digest.split(":")[1][:12] in text
    assert "gpt-4o-2024-08-06" in text and "<code>temperature</code> = <code>0.2</code>" in text
    assert "book_slot" in text and "&#34;slot_id&#34;" in text  # the tool's parameter schema
    assert "You are a terse assistant." in text
    assert "too curt" in text and "v2 → v1" in text  # label history, from -> to
    assert "ps.get(&#34;booking.system&#34;, label=&#34;prod&#34;)" in text
    assert 'data-copy="#sdk-snippet"' in text
    assert '<tr class="selected" aria-current="true">' in text


def test_controls_follow_the_role(shop: Ui) -> None:
    base = "/ui/p/shop/prompts/booking.system"
    erin = _signed_in(shop, "erin").get(f"{base}?version=3").text
    alice = _signed_in(shop, "alice").get(f"{base}?version=3").text
    assert f'href="{base}/new?from=3">New version' in erin
    assert "Start release" not in erin
    assert f"{base}/labels/prod/rollback" not in erin  # prod is protected: a releaser's
    assert f"{base}/promote?label=prod" not in erin
    assert f"{base}/labels/staging/rollback" in erin  # staging is an editor's (active release)
    assert f"{base}/releases/new?label=prod&amp;version=3" in alice
    assert f"{base}/labels/prod/rollback" in alice and f"{base}/promote?label=prod" in alice


def test_rollback_is_offered_only_where_there_is_something_to_return_to(shop: Ui) -> None:
    page = _signed_in(shop, "alice").get("/ui/p/shop/prompts/booking.router").text
    assert "/labels/dev/rollback" not in page  # its first move: nothing earlier
    assert "/promote?label=dev" not in page  # already serves the selected (latest) version


def test_a_forced_action_is_still_refused_by_the_server(shop: Ui) -> None:
    """Hiding the button is not the control: the rollback the editor is not shown is refused."""
    from promptstage.errors import PermissionDeniedError
    from promptstage.service import governance

    erin = _signed_in(shop, "erin")
    assert "/labels/prod/rollback" not in erin.get("/ui/p/shop/prompts/booking.system").text
    with pytest.raises(PermissionDeniedError):
        governance.roll_back_label(
            shop.ctx, _principal(shop, "erin"), PROJECT, "booking.system", "prod",
            to_version=None, reason=None,
        )  # fmt: skip


def _principal(ui: Ui, name: str):  # type: ignore[no-untyped-def]
    from promptstage.domain.models import Role
    from promptstage.service.keys import Principal

    return Principal(f"{name} (ui)", Role.editor, PROJECT, None)


def test_diff_shows_template_and_config_word_by_word(shop: Ui) -> None:
    page = _signed_in(shop, "erin").get("/ui/p/shop/prompts/booking.system/diff?a=1&b=3")
    assert page.status_code == 200
    text = page.text
    assert "<del>helpful</del>" in text and "<ins>terse, kind</ins>" in text
    tools = text.split(">Tools", 1)[1].split("</h3>", 2)
    assert "unchanged" not in tools[0] and "<ins>" in tools[1] and "book_slot" in tools[1]
    assert re.search(r"Model <span class=\"badge\">unchanged</span>", text)
    same = _signed_in(shop, "erin").get("/ui/p/shop/prompts/booking.system/diff?a=2&b=2")
    assert "<del>" not in same.text and "<ins>" not in same.text


def test_unknown_things_are_pages_not_tracebacks(shop: Ui) -> None:
    client = _signed_in(shop, "erin")
    missing = client.get("/ui/p/shop/prompts/no.such.prompt")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert (
        "prompt &#39;no.such.prompt&#39; does not exist in project &#39;shop&#39;" in missing.text
    )
    assert client.get("/ui/p/shop/prompts/booking.system?version=99").status_code == 404
    assert client.get("/ui/p/shop/prompts/booking.system/diff?a=1&b=99").status_code == 404
    assert client.get("/ui/p/shop/prompts/booking.system/diff?a=1").status_code == 422
    assert client.get("/ui/p/elsewhere").status_code == 403  # no role there


def test_pages_need_a_session(shop: Ui) -> None:
    answer = shop.client().get("/ui/p/shop/prompts/booking.system")
    assert answer.status_code == 303 and "/ui/sign-in?next=" in answer.headers["location"]


def test_prompt_text_is_escaped_everywhere(ui: Ui) -> None:
    evil = "<script>alert(1)</script>"
    prompts.create_prompt(ui.ctx, "test", PROJECT, "x.evil", "chat", tags=["<b>t</b>"])
    for content in ("<img src=x onerror=alert(1)>", evil):
        prompts.write_version(
            ui.ctx, "ana", PROJECT, "x.evil",
            template=[{"role": "system", "content": content}], config=CONFIG, message=evil,
        )  # fmt: skip
    labels.move_label(ui.ctx, "ana", PROJECT, "x.evil", "staging", 1, reason=evil)
    client = _signed_in(ui, "erin")
    for path in (
        "/ui/p/shop",
        "/ui/p/shop/prompts/x.evil",
        "/ui/p/shop/prompts/x.evil/diff?a=1&b=2",
    ):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<b>t</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/ui/p/shop").text


def test_a_new_label_becomes_a_column_at_once(shop: Ui) -> None:
    """The labels in use are remembered per event sequence: a move adds its column at once."""
    client = _signed_in(shop, "erin")
    assert '<th scope="col">qa</th>' not in client.get("/ui/p/shop").text
    labels.move_label(shop.ctx, "erin (ui)", PROJECT, "triage", "qa", 1)
    assert '<th scope="col">qa</th>' in client.get("/ui/p/shop").text
    labels.delete_label(shop.ctx, "erin (ui)", PROJECT, "triage", "qa")
    assert '<th scope="col">qa</th>' not in client.get("/ui/p/shop").text
