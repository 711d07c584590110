"""Sessions of the admin UI: cookies, expiry, sign-out, CSRF, and the sign-in rate limit."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from fastapi.testclient import TestClient

from promptstage.ui.session import COOKIE

from .conftest import ADMIN_KEY, PASSWORD, Ui, csrf_of, sign_in, sign_in_token


def _set_cookie(response: Any, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie {name}: {response.headers}")


def test_a_page_without_a_session_sends_the_browser_to_sign_in(browser: TestClient) -> None:
    answer = browser.get("/ui/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in?next=%2Fui%2F"


def test_root_redirects_to_the_ui(browser: TestClient) -> None:
    assert browser.get("/").headers["location"] == "/ui/"


def test_the_session_cookie_is_http_only_same_site_lax_and_scoped_to_the_ui(
    browser: TestClient,
) -> None:
    answer = sign_in(browser, "erin")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
    cookie = _set_cookie(answer, COOKIE)[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "lax" and cookie["path"] == "/ui"
    assert not cookie["secure"]  # plain http: a Secure cookie would never come back


def test_behind_https_the_session_cookie_is_secure(ui: Ui) -> None:
    with ui.client("https://testserver") as client:
        cookie = _set_cookie(sign_in(client, "erin"), COOKIE)[COOKIE]
    assert cookie["secure"]


def test_every_sign_in_gets_a_new_session_id(browser: TestClient) -> None:
    browser.cookies.set(COOKIE, "planted-by-an-attacker", path="/ui")
    first = _set_cookie(sign_in(browser, "erin"), COOKIE)[COOKIE].value
    browser.cookies.clear()  # a second browser of the same person
    second = _set_cookie(sign_in(browser, "erin"), COOKIE)[COOKIE].value
    assert len({"planted-by-an-attacker", first, second}) == 3


def test_the_session_id_is_never_rendered(browser: TestClient) -> None:
    token = _set_cookie(sign_in(browser, "erin"), COOKIE)[COOKIE].value
    assert token not in browser.get("/ui/").text


def test_sign_out_revokes_the_session_on_the_server(browser: TestClient) -> None:
    token = _set_cookie(sign_in(browser, "erin"), COOKIE)[COOKIE].value
    answer = browser.post("/ui/sign-out", data={"csrf": csrf_of(browser)})
    assert answer.status_code == 303
    browser.cookies.clear()
    browser.cookies.set(COOKIE, token, path="/ui")  # the stolen cookie, replayed
    assert browser.get("/ui/").status_code == 303


def test_an_idle_session_expires(ui: Ui, browser: TestClient) -> None:
    sign_in(browser, "erin")
    ui.clock.advance(minutes=29)
    assert browser.get("/ui/").status_code == 200
    ui.clock.advance(minutes=31)
    assert browser.get("/ui/").status_code == 303


def test_a_busy_session_still_ends_at_its_absolute_expiry(ui: Ui, browser: TestClient) -> None:
    sign_in(browser, "erin")
    for _ in range(12 * 3 - 1):  # active every 20 minutes for 12 hours less 20 minutes
        ui.clock.advance(minutes=20)
        assert browser.get("/ui/").status_code == 200
    ui.clock.advance(minutes=21)
    assert browser.get("/ui/").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    browser: TestClient,
) -> None:
    sign_in(browser, "erin")
    refused = browser.post("/ui/sign-out", data={})
    assert refused.status_code == 403
    assert "security token" in refused.text
    assert browser.get("/ui/").status_code == 200  # still signed in


def test_a_post_with_a_wrong_csrf_token_is_refused(browser: TestClient) -> None:
    sign_in(browser, "erin")
    assert browser.post("/ui/sign-out", data={"csrf": "0" * 64}).status_code == 403


def test_a_cross_site_post_is_refused_even_with_the_token(browser: TestClient) -> None:
    sign_in(browser, "erin")
    token = csrf_of(browser)
    answer = browser.post(
        "/ui/sign-out", data={"csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403
    answer = browser.post(
        "/ui/sign-out", data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert answer.status_code == 403


def test_htmx_sends_the_token_in_a_header(browser: TestClient) -> None:
    sign_in(browser, "erin")
    token = csrf_of(browser)
    answer = browser.post("/ui/sign-out", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert answer.status_code == 204 and answer.headers["HX-Redirect"] == "/ui/sign-in"


def test_the_sign_in_form_needs_its_own_token(browser: TestClient) -> None:
    browser.get("/ui/sign-in")
    answer = browser.post("/ui/sign-in", data={"name": "erin", "password": PASSWORD})
    assert answer.status_code == 403
    assert COOKIE not in browser.cookies


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(browser: TestClient) -> None:
    wrong = sign_in(browser, "erin", "not the password at all")
    unknown = sign_in(browser, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong name or password" in wrong.text and "wrong name or password" in unknown.text
    assert COOKIE not in browser.cookies


def test_sign_in_never_redirects_to_another_site(browser: TestClient) -> None:
    for target in ("//evil.example/ui/", "https://evil.example/", "/ui\\..\\x", "/api/v1/x"):
        browser.cookies.clear()
        token = sign_in_token(browser)
        answer = browser.post(
            "/ui/sign-in",
            data={"csrf": token, "name": "erin", "password": PASSWORD, "next": target},
        )
        assert answer.headers["location"] == "/ui/", target


def test_failed_sign_ins_are_rate_limited_and_share_the_budget_of_failed_keys(
    make_ui: Any,
) -> None:
    ui = make_ui(rate_limit_auth_failures=3)
    with ui.client() as client:
        bad_key = {"Authorization": "Bearer ps_000000000000_" + "0" * 64}
        assert client.get("/api/v1/projects", headers=bad_key).status_code == 401
        assert sign_in(client, "erin", "not the password at all").status_code == 401
        assert sign_in(client, "erin", "still not the password").status_code == 429
        refused = sign_in(client, "erin")  # the right password, but the address is blocked
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert client.get("/api/v1/projects", headers=bad_key).status_code == 429


def test_the_instance_admin_key_signs_in_and_sees_every_project(browser: TestClient) -> None:
    token = sign_in_token(browser)
    answer = browser.post("/ui/sign-in/key", data={"csrf": token, "key": ADMIN_KEY})
    assert answer.status_code == 303
    assert "shop" in browser.get("/ui/").text


def test_a_project_key_cannot_sign_in(ui: Ui, browser: TestClient) -> None:
    from promptstage.service import keys

    _, token = keys.create_key(ui.ctx, "test", "shop", "k", "admin")
    form = sign_in_token(browser)
    answer = browser.post("/ui/sign-in/key", data={"csrf": form, "key": token})
    assert answer.status_code == 401


def test_origin_null_is_believed_only_beside_sec_fetch_site_same_origin(
    browser: TestClient,
) -> None:
    sign_in(browser, "erin")
    token = csrf_of(browser)
    refused = browser.post("/ui/sign-out", data={"csrf": token}, headers={"Origin": "null"})
    assert refused.status_code == 403
    allowed = browser.post(
        "/ui/sign-out",
        data={"csrf": token},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert allowed.status_code == 303


def test_ui_pages_send_the_origin_to_our_own_forms(browser: TestClient) -> None:
    answer = browser.get("/ui/sign-in")
    assert answer.headers["referrer-policy"] == "same-origin"
    assert browser.get("/healthz").headers["referrer-policy"] == "no-referrer"
