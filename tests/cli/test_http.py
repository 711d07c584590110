"""The API client's error lines, and the prompt file reader, without a server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import typer

from promptstage.cli import http as http_module
from promptstage.cli.db import redact
from promptstage.cli.http import ApiClient, error_message
from promptstage.cli.promptfile import PromptFileError, load_prompt_file


def test_error_message_uses_the_error_shape() -> None:
    body = {
        "error": {"code": "version_mismatch", "message": "label moved", "field": "expected_version"}
    }
    assert error_message(409, body) == "label moved [version_mismatch] (field: expected_version)"


def test_error_message_skips_a_field_the_message_names() -> None:
    body = {
        "error": {
            "code": "invalid_input",
            "message": "config.model is required",
            "field": "config.model",
        }
    }
    assert error_message(422, body) == "config.model is required [invalid_input]"


def test_error_message_for_other_bodies() -> None:
    assert (
        error_message(502, None, "<html> Bad   gateway </html>")
        == "the server answered HTTP 502: <html> Bad gateway </html>"
    )
    assert error_message(500, {"detail": "x"}) == "the server answered HTTP 500"
    assert error_message(401, {"error": {"code": "unauthenticated", "message": "no key"}}).endswith(
        "check --api-key / PROMPTSTAGE_API_KEY"
    )


def test_redact() -> None:
    assert (
        redact("postgresql+psycopg://me:s3cr%40t@db:5432/ps")
        == "postgresql+psycopg://me:***@db:5432/ps"
    )
    assert redact("sqlite:///./x.db") == "sqlite:///./x.db"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1, 2]", "expected an object"),
        (
            '{"name": "", "type": "text", "template": "t", "config": {}}',
            "'name' must be a non-empty string",
        ),
        ('{"name": "x", "type": "text", "template": ["t"], "config": {}}', "must be a string"),
        (
            '{"name": "x", "type": "chat", "template": [{"role": "system"}], "config": {}}',
            "template[0]",
        ),
        ('{"name": "x", "type": "text", "template": "t", "config": []}', "'config' must be"),
        (
            '{"name": "x", "type": "text", "template": "t", "config": {}, "variables": {}}',
            "'variables' must be a list",
        ),
        (
            '{"name": "x", "type": "text", "template": "t", "config": {}, "tags": [1]}',
            "'tags' must be a list of strings",
        ),
        (
            '{"name": "x", "type": "text", "template": "t", "config": {}, "description": 3}',
            "'description' must be a string",
        ),
    ],
)
def test_prompt_file_shape_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=message.replace("[", r"\[")):
        load_prompt_file(path)


def test_prompt_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(b"name = '\xff'")
    with pytest.raises(PromptFileError, match="not UTF-8"):
        load_prompt_file(path)


def test_prompt_file_bodies(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "x"\ntype = "text"\ntemplate = "hi {{ a }}"\nvariables = []\n[config.model]\nprovider = "p"\n',
        encoding="utf-8",
    )
    spec = load_prompt_file(path)
    assert spec.prompt_body() == {"name": "x", "type": "text"}
    assert spec.version_body("m") == {
        "template": "hi {{ a }}",
        "config": {"model": {"provider": "p"}},
        "variables": [],
        "message": "m",
    }


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    return ApiClient("http://ps.test", "ps_a_b", transport=httpx.MockTransport(handler))


def test_writes_carry_one_idempotency_key_across_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A write whose answer was lost is sent again with the same key (the server replays the
    first answer, issue 11 defect 9); each command request gets its own key."""
    monkeypatch.setattr(http_module.time, "sleep", lambda seconds: None)
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Idempotency-Key"))
        if len(seen) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if len(seen) == 2:
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(201, json={"ok": True})

    client = _client(handler)
    assert client.post("/api/v1/projects", {"name": "x"}).status == 201
    assert len(seen) == 3 and seen[0] is not None and len(set(seen)) == 1
    client.put("/api/v1/projects/x/settings", {})
    assert seen[3] is not None and seen[3] != seen[0]


def test_a_running_first_attempt_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(http_module.time, "sleep", waits.append)
    answers = [
        httpx.Response(
            409,
            headers={"Retry-After": "3"},
            json={"error": {"code": "conflict", "message": "running", "field": "Idempotency-Key"}},
        ),
        httpx.Response(201, json={"ok": True}, headers={"Idempotent-Replayed": "true"}),
    ]
    client = _client(lambda request: answers.pop(0))
    assert client.post("/api/v1/projects", {"name": "x"}).status == 201
    assert waits == [3.0]


def test_deletes_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module.time, "sleep", lambda seconds: None)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})

    with pytest.raises(typer.Exit):
        _client(handler).delete("/api/v1/projects/x/keys/abc")
    assert len(calls) == 1 and "Idempotency-Key" not in calls[0].headers
