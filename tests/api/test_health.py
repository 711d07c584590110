"""Instance endpoints: liveness, readiness, metrics, OpenAPI and the interactive docs."""

from __future__ import annotations

from .client import Api


def test_healthz(admin: Api) -> None:
    assert admin.as_key(None).ok("GET", "/healthz") == {"status": "ok"}


def test_readyz(admin: Api) -> None:
    assert admin.as_key(None).ok("GET", "/readyz") == {"status": "ready", "store": "ok"}


def test_metrics_count_requests_by_route_template(admin: Api) -> None:
    admin.get("/api/v1/projects/nope/prompts/x")
    response = admin.as_key(None).get("/metrics")
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
