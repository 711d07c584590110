"""Instance endpoints: liveness, readiness, metrics, OpenAPI and the interactive docs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from promptstage.errors import ConfigurationError
from promptstage.settings import Settings

from .client import ADMIN_KEY, Api, Seeded

METRICS_TOKEN = "m" * 40


def test_healthz(admin: Api) -> None:
    assert admin.as_key(None).ok("GET", "/healthz") == {"status": "ok"}


def test_readyz(admin: Api) -> None:
    assert admin.as_key(None).ok("GET", "/readyz") == {"status": "ready", "store": "ok"}


def test_metrics_count_requests_by_route_template(admin: Api) -> None:
    admin.get("/api/v1/projects/nope/prompts/x")
    response = admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE promptstage_http_requests_total counter" in text
    assert (
        'promptstage_http_requests_total{method="GET",route="/api/v1/projects/{project}/prompts/{name}",status="404"} 1'
        in text
    )
    assert "promptstage_sse_clients 0" in text


def test_openapi_lists_the_rest_table(admin: Api) -> None:
    spec = admin.as_key(None).ok("GET", "/openapi.json")
    assert spec["info"]["title"] == "promptstage"
    paths = spec["paths"]
    base = "/api/v1/projects/{project}"
    for path, methods in {
        "/api/v1/projects": {"get", "post"},
        f"{base}/prompts": {"get", "post"},
        f"{base}/prompts/{{name}}": {"get"},
        f"{base}/prompts/{{name}}/versions": {"get", "post"},
        f"{base}/prompts/{{name}}/versions/{{number}}": {"get"},
        f"{base}/prompts/{{name}}/diff": {"get"},
        f"{base}/prompts/{{name}}/labels/{{label}}": {"get", "put", "delete"},
        f"{base}/prompts/{{name}}/labels/{{label}}/history": {"get"},
        f"{base}/prompts/{{name}}/labels/{{label}}/rollback": {"post"},
        f"{base}/prompts/{{name}}/resolve": {"get"},
        f"{base}/snapshot": {"get"},
        f"{base}/events": {"get"},
        f"{base}/audit": {"get"},
        f"{base}/audit/verify": {"get"},
        f"{base}/keys": {"get", "post"},
        f"{base}/keys/{{prefix}}": {"delete"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        "/metrics": {"get"},
    }.items():
        assert methods <= set(paths.get(path, {})), path


def test_docs_page_is_served(admin: Api) -> None:
    response = admin.as_key(None).get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/openapi.json" in response.text


# -- who may read /metrics: its labels name projects, prompts, labels and models -----------------


def test_metrics_need_the_instance_admin_by_default(seeded: Seeded) -> None:
    admin = seeded.admin
    assert admin.as_key(None).get("/metrics").status_code == 401
    assert admin.as_key("ps_abcdefgh_" + "x" * 43).get("/metrics").status_code == 401
    refused = admin.as_key(seeded.keys["admin"]).get("/metrics")  # a project's admin key
    assert refused.status_code == 403, "one tenant's key must not read every tenant's names"
    assert admin.get("/metrics").status_code == 200


def test_a_metrics_token_lets_a_scraper_read_them(
    seeded: Seeded, make_app: Callable[..., FastAPI]
) -> None:
    app = make_app(metrics_token=METRICS_TOKEN)
    scraper = Api(seeded.admin.runner, app, METRICS_TOKEN)
    response = scraper.get("/metrics")
    assert response.status_code == 200 and "promptstage_http_requests_total" in response.text
    assert scraper.as_key("m" * 39 + "n").get("/metrics").status_code == 401
    assert scraper.as_key(None).get("/metrics").status_code == 401
    assert scraper.as_key(ADMIN_KEY).get("/metrics").status_code == 200
    assert scraper.get("/api/v1/projects").status_code == 401, "the token opens /metrics only"


def test_metrics_can_be_made_public(seeded: Seeded, make_app: Callable[..., FastAPI]) -> None:
    app = make_app(metrics_public=True)
    assert Api(seeded.admin.runner, app, None).get("/metrics").status_code == 200


def test_a_short_metrics_token_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(metrics_token="short")
    assert "PROMPTSTAGE_METRICS_TOKEN" in str(caught.value) and "32" in str(caught.value)
