"""Security headers on every response; the snapshot keeps its own caching headers; /docs works."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from promptstage.api.headers import API_CSP
from support import hardening as hardening_helpers
from support.hardening import ADMIN_KEY, BASE, Caller

# The hardening fixtures (tests/support/hardening.py), resolved here before this folder's conftest.
database_url = hardening_helpers.database_url
make_store = hardening_helpers.make_store
runner = hardening_helpers.runner
clock = hardening_helpers.clock
make_clocked_app = hardening_helpers.make_clocked_app
call = hardening_helpers.call

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def app(make_clocked_app: Callable[..., FastAPI], call: Caller) -> FastAPI:
    made = make_clocked_app(max_body_bytes=1000, rate_limit_auth_failures=2)
    assert call(made, "POST", BASE, token=ADMIN_KEY, json={"name": "hdr"}).status_code == 201
    return made


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (
            name,
            response.request.url,
            response.status_code,
        )


def test_api_answers_carry_the_headers(app: FastAPI, call: Caller) -> None:
    answers = [
        call(app, "GET", BASE, token=ADMIN_KEY),  # 200
        call(
            app, "POST", f"{BASE}/hdr/keys", token=ADMIN_KEY, json={"role": "runtime"}
        ),  # 201, holds a token
        call(app, "GET", f"{BASE}/nope/prompts", token=ADMIN_KEY),  # 404
        call(app, "POST", BASE, token=ADMIN_KEY, content=b"x" * 2000),  # 413
        call(app, "POST", BASE, token=ADMIN_KEY, content=b'{"a": NaN}'),  # 400
        call(app, "GET", "/healthz"),
        call(app, "GET", "/metrics", token=ADMIN_KEY),
        call(app, "GET", "/openapi.json"),
        call(app, "GET", BASE),  # 401
        call(app, "GET", BASE),  # 401: now blocked
        call(app, "GET", BASE),  # 429
    ]
    assert [a.status_code for a in answers] == [
        200,
        201,
        404,
        413,
        400,
        200,
        200,
        200,
        401,
        401,
        429,
    ]
    for answer in answers:
        assert_common(answer)
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-security-policy"] == API_CSP


def test_snapshot_keeps_its_own_cache_control(app: FastAPI, call: Caller) -> None:
    first = call(app, "GET", f"{BASE}/hdr/snapshot", token=ADMIN_KEY)
    assert (
        first.status_code == 200
        and first.headers["cache-control"] == "no-cache"
        and first.headers["etag"]
    )
    again = call(
        app,
        "GET",
        f"{BASE}/hdr/snapshot",
        token=ADMIN_KEY,
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    for answer in (first, again):
        assert_common(answer)
        assert len(answer.headers.get_list("cache-control")) == 1


def _sources(csp: str, directive: str) -> set[str]:
    for part in csp.split(";"):
        words = part.split()
        if words and words[0] == directive:
            return set(words[1:])
    return set()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_work_without_internet_under_a_self_only_policy(
    app: FastAPI, call: Caller, path: str
) -> None:
    """The docs pages load their assets from the package (api/docs_pages.py) and run no inline
    script, so their CSP names no other origin."""
    page = call(app, "GET", path)
    assert page.status_code == 200
    assert_common(page)
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert _sources(csp, "script-src") == {"'self'"}
    assert "http" not in csp, csp  # no CDN, no font host
    assets = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', page.text)
    assert assets
    for url in assets:
        assert not urlsplit(url).netloc, url  # same origin
        served = call(app, "GET", url)
        assert served.status_code == 200, url
        assert served.headers["content-type"].startswith(("text/javascript", "text/css")), url
        assert len(served.content) > 1000 or url.endswith("swagger-init.js")
    assert "<script>" not in page.text  # no inline script to allow
