"""The API client's error lines, and the prompt file reader, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptstage.cli.db import redact
from promptstage.cli.http import error_message
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
