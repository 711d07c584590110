"""The ship pages in-process: editor (inline errors, nothing saved, preview, review diff),
promote (applied, opened, stale compare-and-set), approvals, and refusals of forced POSTs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from promptstage.domain.models import Role
from promptstage.domain.principals import PrincipalKind
from promptstage.service import governance_reads, principals, prompts
from promptstage.service.change_requests import list_requests
from promptstage.service.keys import Principal

from .conftest import PROJECT, Ui
from .ship_support import BASE, as_user, hidden_fields, seed

EDITOR = f"{BASE}/greet/new"


def _versions(ui: Ui, name: str = "greet") -> int:
    return prompts.get_prompt(ui.ctx, PROJECT, name)[0].latest_version


def _labels(ui: Ui, name: str = "greet") -> dict[str, int]:
    return prompts.get_prompt(ui.ctx, PROJECT, name)[1]


def _editor_form(browser: TestClient, path: str = EDITOR) -> dict[str, str]:
    page = browser.get(path)
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)


# -- editor -----------------------------------------------------------------------------------


def test_the_editor_is_prefilled_from_the_chosen_version(ui: Ui, browser: TestClient) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    assert _editor_form(browser, f"{EDITOR}?from=1")["template"] == "Hello {{ who }}"
    latest = _editor_form(browser)
    assert latest["template"] == "Hi {{ who }}!"
    assert latest["base"] == "2"
    assert latest["model_version"] == "2024-08-06"
    assert latest["var_name_0"] == "who"


def test_an_invalid_field_is_shown_next_to_it_and_nothing_is_saved(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    form = _editor_form(browser)
    cases = {
        "model_version": ("", "config.model.version"),
        "tools_json": ("[{", "config.tools is not valid JSON"),
        "temperature": ("warm", "config.params.temperature"),
    }
    for field, (value, expected) in cases.items():
        for action in ("review", "save"):
            answer = browser.post(EDITOR, data={**form, field: value, "action": action})
            assert answer.status_code == 422, answer.text
            assert f'id="e-{field}"' in answer.text
            assert expected in answer.text
            assert "Nothing was saved" in answer.text
    schema = '[{"name": "find", "parameters": {"type": "object", "required": ["city"], "properties": {"q": {}}}}]'
    answer = browser.post(EDITOR, data={**form, "tools_json": schema, "action": "review"})
    assert answer.status_code == 422 and 'id="e-tools_json"' in answer.text
    assert "not in its properties" in answer.text
    undeclared = browser.post(
        EDITOR, data={**form, "template": "Hi {{ someone }}", "action": "save"}
    )
    assert undeclared.status_code == 422 and 'id="e-variables"' in undeclared.text
    assert _versions(ui) == 2  # nothing was saved by any of these


def test_the_preview_renders_with_the_sdk_renderer_and_names_a_failing_variable(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    form = _editor_form(browser)
    htmx = {"HX-Request": "true"}
    shown = browser.post(f"{EDITOR}/preview", data={**form, "sample_0": "<b>Ann</b>"}, headers=htmx)
    assert shown.status_code == 200
    assert "Hi &lt;b&gt;Ann&lt;/b&gt;!" in shown.text  # rendered, and escaped
    missing = browser.post(f"{EDITOR}/preview", data={**form, "sample_0": ""}, headers=htmx)
    assert "missing required variable &#39;who&#39;" in missing.text
    typed = browser.post(
        f"{EDITOR}/preview",
        data={**form, "var_type_0": "integer", "sample_0": "three"},
        headers=htmx,
    )
    assert "sample value of &#39;who&#39;" in typed.text
    without_js = browser.post(EDITOR, data={**form, "sample_0": "Bo", "action": "preview"})
    assert without_js.status_code == 200 and "Hi Bo!" in without_js.text
    assert _versions(ui) == 2


def test_the_preview_respects_the_rendered_size_limit(make_ui, clock) -> None:  # type: ignore[no-untyped-def]
    ui = make_ui(max_rendered_bytes=4096)
    seed(ui.ctx)
    with ui.client() as browser:
        as_user(browser, "erin")
        form = _editor_form(browser)
        answer = browser.post(
            f"{EDITOR}/preview",
            data={**form, "sample_0": "x" * 5000},
            headers={"HX-Request": "true"},
        )
    assert "over the 4 KiB limit" in answer.text and "&#39;who&#39;" in answer.text


def test_review_shows_the_diff_then_save_writes_the_version(ui: Ui, browser: TestClient) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    form = _editor_form(browser)
    review = browser.post(
        EDITOR,
        data={**form, "template": "Hey {{ who }}!", "temperature": "0.3", "action": "review"},
    )
    assert review.status_code == 200
    assert (
        "<del>-Hi {{ who }}!</del>" in review.text and "<ins>+Hey {{ who }}!</ins>" in review.text
    )
    assert "params.temperature" in review.text
    assert _versions(ui) == 2  # a review writes nothing
    carried = hidden_fields(review.text)
    saved = browser.post(EDITOR, data={**carried, "message": "friendlier", "action": "save"})
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{BASE}/greet?version=3"
    version = prompts.get_version(ui.ctx, PROJECT, "greet", 3)
    assert version.template == "Hey {{ who }}!" and version.message == "friendlier"
    assert version.config["params"] == {"temperature": 0.3}
    assert version.author == "erin (ui)"
    again = browser.post(EDITOR, data={**carried, "action": "review"})
    assert "This content is already version 3" in again.text
    same = browser.post(EDITOR, data={**carried, "action": "save"})
    assert same.status_code == 303 and _versions(ui) == 3
    page = browser.get(same.headers["location"].replace(f"{BASE}/greet", EDITOR + "?from=3"))
    assert "already version 3" in page.text  # the one-time notice says nothing new was written


def test_chat_messages_are_added_and_removed_without_javascript(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    path = f"{BASE}/chat/new"
    form = _editor_form(browser, path)
    assert form["msg_count"] == "1" and form["role_0"] == "system"
    more = browser.post(path, data={**form, "action": "add_message"})
    grown = hidden_fields(more.text)
    assert grown["msg_count"] == "2" and grown["role_1"] == "user"
    grown["content_1"] = "I am {{ who }}"
    saved = browser.post(path, data={**grown, "action": "save"})
    assert saved.status_code == 303
    assert prompts.get_version(ui.ctx, PROJECT, "chat", 2).template[1] == {
        "role": "user",
        "content": "I am {{ who }}",
    }
    fewer = hidden_fields(browser.post(path, data={**grown, "action": "remove_message:0"}).text)
    assert fewer["msg_count"] == "1" and fewer["role_0"] == "user"
    bad_role = browser.post(path, data={**grown, "role_1": "robot", "action": "review"})
    assert bad_role.status_code == 422 and 'id="e-role_1"' in bad_role.text


# -- promote ----------------------------------------------------------------------------------


def test_promote_an_unprotected_label_moves_it(ui: Ui, browser: TestClient) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    page = browser.get(f"{BASE}/greet/promote?label=staging&version=2")
    assert "Changes from version 1 to version 2" in page.text
    assert "four-eyes" not in page.text
    form = hidden_fields(page.text)
    assert form["expected"] == "1"
    moved = browser.post(f"{BASE}/greet/promote", data=form)
    assert moved.status_code == 303 and moved.headers["location"] == f"{BASE}/greet"
    assert _labels(ui)["staging"] == 2


def test_promote_a_protected_label_opens_a_change_request(ui: Ui, browser: TestClient) -> None:
    seed(ui.ctx)
    as_user(browser, "alice")
    page = browser.get(f"{BASE}/greet/promote?label=prod&version=1")
    assert "a second person (another releaser) must approve it" in page.text
    opened = browser.post(f"{BASE}/greet/promote", data=hidden_fields(page.text))
    assert opened.status_code == 303
    [request], _ = list_requests(ui.ctx, PROJECT, state="open", limit=10, cursor=None)
    assert opened.headers["location"] == f"/ui/p/{PROJECT}/approvals/{request.id}"
    assert request.expected_version == 2 and request.version == 1
    assert _labels(ui)["prod"] == 2  # nothing moved yet


def test_a_stale_compare_and_set_says_so_shows_the_label_now_and_changes_nothing(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    prompts.write_version(
        ui.ctx, "test", PROJECT, "greet", template="v3 {{ who }}", config={"model": {**_model()}}
    )
    form = hidden_fields(browser.get(f"{BASE}/greet/promote?label=staging&version=2").text)
    from promptstage.service import labels

    labels.move_label(ui.ctx, "bob", PROJECT, "greet", "staging", 3)  # meanwhile
    stale = browser.post(f"{BASE}/greet/promote", data=form)
    assert stale.status_code == 409
    assert "Someone moved label staging meanwhile: nothing was changed." in stale.text
    assert "Label staging now serves version 3" in stale.text
    assert hidden_fields(stale.text)["expected"] == "3"  # the form now carries the new state
    assert _labels(ui)["staging"] == 3


def _model() -> dict[str, str]:
    return {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


def test_an_editor_is_not_offered_a_protected_move_and_a_forced_post_is_refused(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    token = as_user(browser, "erin")
    page = browser.get(f"{BASE}/greet/promote?label=prod&version=1")
    assert "You cannot move this label" in page.text and "releaser" in page.text
    assert 'action="/ui/p/shop/prompts/greet/promote" method' not in page.text
    assert "Ask for approval" not in page.text
    forced = browser.post(
        f"{BASE}/greet/promote",
        data={"csrf": token, "label": "prod", "version": "1", "expected": "2"},
    )
    assert forced.status_code == 403
    assert "Not allowed" in forced.text and "releaser" in forced.text
    assert "Traceback" not in forced.text
    assert _labels(ui)["prod"] == 2


# -- approvals --------------------------------------------------------------------------------


def _open_request(ui: Ui, client: TestClient) -> str:
    page = client.get(f"{BASE}/greet/promote?label=prod&version=1")
    opened = client.post(f"{BASE}/greet/promote", data=hidden_fields(page.text))
    return str(opened.headers["location"]).rsplit("/", 1)[1]


def test_four_eyes_the_requester_sees_why_not_and_another_releaser_approves(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    alice_token = as_user(browser, "alice")
    request_id = _open_request(ui, browser)
    inbox = browser.get(f"/ui/p/{PROJECT}/approvals")
    assert request_id in inbox.text
    own = browser.get(f"/ui/p/{PROJECT}/approvals/{request_id}")
    assert "<del>-Hi {{ who }}!</del>" in own.text  # the diff of what the label would serve
    assert "You cannot decide this request" in own.text
    assert "four-eyes needs a different releaser than alice" in own.text
    assert "Approve and apply" not in own.text
    forced = browser.post(
        f"/ui/p/{PROJECT}/approvals/{request_id}/approve", data={"csrf": alice_token}
    )
    assert forced.status_code == 403 and "four-eyes needs a different releaser" in forced.text
    assert _labels(ui)["prod"] == 2
    with ui.client() as bob:
        as_user(bob, "bob")
        page = bob.get(f"/ui/p/{PROJECT}/approvals/{request_id}")
        assert "Approve and apply" in page.text
        done = bob.post(
            f"/ui/p/{PROJECT}/approvals/{request_id}/approve", data=hidden_fields(page.text)
        )
        assert done.status_code == 303
        assert 'data-testid="state">approved' in bob.get(done.headers["location"]).text
    assert _labels(ui)["prod"] == 1


def test_a_rejection_changes_nothing_and_an_editor_cannot_decide(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "alice")
    request_id = _open_request(ui, browser)
    with ui.client() as erin:
        token = as_user(erin, "erin")
        page = erin.get(f"/ui/p/{PROJECT}/approvals/{request_id}")
        assert "needs the &#39;releaser&#39; role" in page.text
        forced = erin.post(f"/ui/p/{PROJECT}/approvals/{request_id}/reject", data={"csrf": token})
        assert forced.status_code == 403
    with ui.client() as bob:
        token = as_user(bob, "bob")
        rejected = bob.post(
            f"/ui/p/{PROJECT}/approvals/{request_id}/reject",
            data={"csrf": token, "reason": "not now"},
        )
        assert rejected.status_code == 303
    assert _labels(ui)["prod"] == 2
    [decided], _ = list_requests(ui.ctx, PROJECT, state="rejected", limit=10, cursor=None)
    assert decided.decision_reason == "not now"


def test_may_decide_gives_the_refusal_the_approval_would_raise(ui: Ui, browser: TestClient) -> None:
    seed(ui.ctx)
    as_user(browser, "alice")
    request_id = _open_request(ui, browser)
    principals.create_principal(ui.ctx, "test", PROJECT, "deploy-bot", PrincipalKind.service)
    bot = Principal("deploy-bot (key:abc)", Role.releaser, PROJECT, "abc")
    found = governance_reads.get_request(ui.ctx, bot, PROJECT, request_id)
    why = governance_reads.may_decide(ui.ctx, bot, PROJECT, found)
    assert why is not None and "service account" in why
    bob = Principal("bob (ui)", Role.releaser, PROJECT, None)
    assert governance_reads.may_decide(ui.ctx, bob, PROJECT, found) is None
    author = Principal("test", Role.releaser, PROJECT, None)  # wrote version 1
    refusal = governance_reads.may_decide(ui.ctx, author, PROJECT, found)
    assert refusal is not None and "other than its author" in refusal
    assert governance_reads.may_decide(ui.ctx, author, PROJECT, found, approving=False) is None


def test_prompt_text_never_becomes_markup_in_the_editor_preview_or_diff(
    ui: Ui, browser: TestClient
) -> None:
    seed(ui.ctx)
    as_user(browser, "erin")
    form = _editor_form(browser)
    attack = "</textarea><script>alert(1)</script>{{ who }}"
    review = browser.post(EDITOR, data={**form, "template": attack, "action": "review"})
    shown = browser.post(
        f"{EDITOR}/preview",
        data={**form, "template": attack, "sample_0": "<img src=x onerror=alert(2)>"},
        headers={"HX-Request": "true"},
    )
    back = browser.post(EDITOR, data={**form, "template": attack, "action": "edit"})
    for page in (review.text, shown.text, back.text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in review.text
    assert "&lt;img src=x onerror=alert(2)&gt;" in shown.text
