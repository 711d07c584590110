"""The real ``langfuse`` Python SDK against a real promptstage server (``/api/public/``)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from langfuse import Langfuse
from langfuse.api.commons.errors.unauthorized_error import UnauthorizedError
from langfuse.api.core.api_error import ApiError

from promptstage.domain.langfuse import key_pair
from support.live import MODEL, Server, running_server, server  # noqa: F401

BASE = "/api/v1/projects"


def _project(server: Server, *, four_eyes: bool = False) -> str:  # noqa: F811
    name = f"lf-{secrets.token_hex(4)}"
    server.api("POST", BASE, 201, json={"name": name})
    server.api("PUT", f"{BASE}/{name}/settings", json={"four_eyes": four_eyes})
    return name


def _key(server: Server, project: str, role: str) -> str:  # noqa: F811
    body = server.api("POST", f"{BASE}/{project}/keys", 201, json={"role": role, "name": role})
    token: str = body["token"]
    return token


def _langfuse(url: str, token: str, **options: Any) -> Langfuse:
    public, secret = key_pair(token)
    return Langfuse(
        public_key=public, secret_key=secret, base_url=url, tracing_enabled=False, **options
    )


def _seed_text(server: Server, project: str, name: str) -> None:  # noqa: F811
    server.api("POST", f"{BASE}/{project}/prompts", 201, json={"name": name, "type": "text"})
    q = quote(name, safe="")
    for text in ("Hello {{ who }}.", "Hi {{who}}, from {{ place }}!"):
        server.api(
            "POST",
            f"{BASE}/{project}/prompts/{q}/versions",
            201,
            json={"template": text, "config": {"model": MODEL, "params": {"temperature": 0.3}}},
        )
    server.api(
        "PUT",
        f"{BASE}/{project}/prompts/{q}/labels/prod",
        json={"version": 1, "expected_version": None, "reason": "t"},
    )


@pytest.fixture
def project(server: Server) -> str:  # noqa: F811
    return _project(server)


@pytest.fixture
def client(server: Server, project: str) -> Iterator[Langfuse]:  # noqa: F811
    lf = _langfuse(server.url, _key(server, project, "releaser"))
    yield lf
    lf.shutdown()


def test_auth_check_and_get_by_label_and_version(
    server: Server,  # noqa: F811
    project: str,
    client: Langfuse,
) -> None:
    assert client.auth_check() is True
    _seed_text(server, project, "greet")
    production = client.get_prompt("greet", cache_ttl_seconds=0)
    assert production.version == 1 and production.prompt == "Hello {{ who }}."
    assert production.labels == ["production"]
    assert production.config["model"] == "gpt-4o" and production.config["temperature"] == 0.3
    assert production.compile(who="Ana") == "Hello Ana."
    latest = client.get_prompt("greet", label="latest", cache_ttl_seconds=0)
    assert latest.version == 2 and latest.labels == ["latest"]
    assert latest.compile(who="Bo", place="Oslo") == "Hi Bo, from Oslo!"
    second = client.get_prompt("greet", version=2, cache_ttl_seconds=0)
    assert second.version == 2 and not second.is_fallback


def test_create_chat_prompt_with_placeholders_and_compile(client: Langfuse) -> None:
    created = client.create_prompt(
        name="support/triage",
        type="chat",
        prompt=[
            {"role": "system", "content": "You triage tickets for {{team}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["production"],
        tags=["support"],
        config={"model": "gpt-4o-mini", "temperature": 0.1, "supported_languages": ["en"]},
        commit_message="first",
    )
    assert created.version == 1 and created.name == "support/triage"
    fetched = client.get_prompt("support/triage", type="chat", cache_ttl_seconds=0)
    assert fetched.version == 1 and fetched.commit_message == "first"
    assert fetched.tags == ["support"]
    assert fetched.config == {
        "model": "gpt-4o-mini",
        "temperature": 0.1,
        "supported_languages": ["en"],
    }
    messages = fetched.compile(
        team="billing",
        question="Where is my refund?",
        history=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    )
    assert messages == [
        {"role": "system", "content": "You triage tickets for billing."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Where is my refund?"},
    ]


def test_create_text_then_update_labels(client: Langfuse) -> None:
    client.create_prompt(name="faq", prompt="v1 {{q}}", labels=["production"])
    second = client.create_prompt(name="faq", prompt="v2 {{q}}", labels=["staging"])
    assert second.version == 2 and second.labels == ["staging", "latest"]
    assert client.get_prompt("faq", cache_ttl_seconds=0).version == 1
    updated = client.update_prompt(name="faq", version=2, new_labels=["production"])
    assert "production" in updated.labels
    assert client.get_prompt("faq", cache_ttl_seconds=0).version == 2


def test_four_eyes_label_move_surfaces_as_an_error(server: Server) -> None:  # noqa: F811
    project = _project(server, four_eyes=True)
    lf = _langfuse(server.url, _key(server, project, "releaser"))
    try:
        lf.create_prompt(name="guarded", prompt="v1")
        with pytest.raises(ApiError) as info:
            lf.update_prompt(name="guarded", version=1, new_labels=["production"])
        assert info.value.status_code == 403
        assert "approval needed" in info.value.body["message"]
        requests = server.api("GET", f"{BASE}/{project}/change-requests")
        assert any(r["label"] == "prod" for r in requests["items"])
    finally:
        lf.shutdown()


def test_a_runtime_key_cannot_write_through_the_facade(server: Server, project: str) -> None:  # noqa: F811
    lf = _langfuse(server.url, _key(server, project, "runtime"))
    try:
        with pytest.raises(ApiError) as info:
            lf.create_prompt(name="nope", prompt="x")
        assert info.value.status_code == 403
    finally:
        lf.shutdown()


def test_wrong_secret_is_refused(server: Server, project: str) -> None:  # noqa: F811
    public, _ = key_pair(_key(server, project, "runtime"))
    lf = Langfuse(
        public_key=public, secret_key="sk-lf-" + "0" * 64, base_url=server.url,
        tracing_enabled=False,
    )  # fmt: skip
    try:
        with pytest.raises(UnauthorizedError) as info:
            lf.auth_check()
        assert info.value.body["message"].startswith(
            "unknown API key (Langfuse clients: HTTP Basic"
        )
        response = httpx.get(f"{server.url}/api/public/projects", auth=(public, "sk-lf-00"))
        assert response.status_code == 401 and "message" in response.json()
    finally:
        lf.shutdown()


def test_fallback_and_cache_when_promptstage_is_down(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}") as live:
        project = _project(live)
        _seed_text(live, project, "greet")
        lf = _langfuse(live.url, _key(live, project, "runtime"))
        cached = lf.get_prompt("greet", cache_ttl_seconds=300)
        assert cached.version == 1
    try:
        # The server is gone: the SDK serves its cached copy, and the fallback for a miss.
        again = lf.get_prompt("greet", cache_ttl_seconds=300)
        assert again.version == 1 and not again.is_fallback
        missing = lf.get_prompt(
            "other", fallback="Fallback {{x}}", max_retries=0, fetch_timeout_seconds=1
        )
        assert missing.is_fallback and missing.compile(x="y") == "Fallback y"
    finally:
        lf.shutdown()


def test_a_canary_resolves_per_unit_header_and_baseline_without(
    server: Server,  # noqa: F811
    project: str,
    client: Langfuse,
) -> None:
    _seed_text(server, project, "greet")
    server.api(
        "POST",
        f"{BASE}/{project}/releases",
        201,
        json={"prompt": "greet", "label": "prod", "candidate_version": 2, "strategy": "canary"},
    )
    assert {client.get_prompt("greet", cache_ttl_seconds=0).version for _ in range(5)} == {1}

    def served(unit: str) -> int:
        options: Any = {"additional_headers": {"X-Promptstage-Unit": unit}}
        prompt = client.api.prompts.get("greet", label="production", request_options=options)
        return prompt.version

    by_unit = {f"user-{i}": served(f"user-{i}") for i in range(150)}
    assert set(by_unit.values()) == {1, 2}
    assert all(served(unit) == version for unit, version in list(by_unit.items())[:20])
