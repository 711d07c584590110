"""Reading Prompty v1 and v2 files, writing v2, and the errors for what we refuse."""

from __future__ import annotations

import json

import pytest

from promptstage.files.layout import FORMATS, write_file
from promptstage.files.prompty import parse_prompty
from promptstage.files.spec import FileFormatError

from .samples import PROMPTY_V1, spec


def test_reads_v1_model_configuration_parameters_and_inputs() -> None:
    parsed = parse_prompty(PROMPTY_V1, "booking.prompty", "booking")
    got = parsed.spec
    assert got.config["model"] == {"provider": "azure", "name": "gpt-4o", "version": "2024-08-06"}
    assert got.config["params"] == {"temperature": 0.2, "max_tokens": 300}
    assert got.template == [
        {"role": "system", "content": "You book appointments for {{clinic}}."},
        {"role": "user", "content": "{{question}}"},
    ]
    assert [v["name"] for v in got.variables] == ["clinic", "question"]
    assert any("sample was not imported" in w for w in parsed.warnings)


def test_connection_secrets_are_never_imported() -> None:
    parsed = parse_prompty(PROMPTY_V1, "booking.prompty", "booking")
    content = json.dumps(
        [parsed.spec.template, parsed.spec.variables, parsed.spec.config, parsed.spec.description]
    )
    assert "sk-secret-never-imported" not in content
    assert "example.openai.azure.com" not in content
    assert any("api_key is a secret and was not imported" in w for w in parsed.warnings)


def test_v2_connection_with_api_key_is_dropped_with_a_warning() -> None:
    text = """---
model:
  id: gpt-4o
  provider: openai
  connection: {kind: key, apiKey: sk-v2-secret}
metadata: {promptstage: {modelVersion: '1'}}
---
user:
Hi {{name}}
"""
    parsed = parse_prompty(text, "x.prompty", "x")
    assert "sk-v2-secret" not in json.dumps(parsed.spec.config)
    assert any("apiKey" in w for w in parsed.warnings)


def test_writes_v2_that_reads_back_exactly() -> None:
    original = spec(
        template=[
            {"role": "developer", "content": "Be brief for {{clinic}}."},
            {"role": "user", "content": "  {{question}}\n\nthanks"},
        ],
        description="Books",
    )
    text = write_file(original, "booking", FORMATS["prompty"])
    assert "maxOutputTokens: 300" in text
    assert parse_prompty(text, "booking.prompty", "booking").spec == original


def test_text_prompt_is_a_body_without_markers() -> None:
    original = spec("text", "Summarize {{text}}\n\nbriefly")
    text = write_file(original, "s", FORMATS["prompty"])
    assert parse_prompty(text, "s.prompty", "s").spec == original


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("system:\nHi\n{% if vip %}VIP{% endif %}\n", 7, "Jinja block"),
        ("system:\nHi {# note #}\n", 6, "Jinja comment"),
        ("system:\nHi\n\nthere {{ name | upper }}\n", 8, "not a placeholder"),
        ('user[name="Ann"]:\nHi\n', 5, "role attributes"),
        ("user:\nHi \\{{x}}\n", 6, "not an escape"),
    ],
)
def test_unsupported_constructs_name_file_and_line(body: str, line: int, words: str) -> None:
    text = "---\nmodel: {id: m, provider: p}\nmetadata: {promptstage: {modelVersion: '1'}}\n---\n"
    with pytest.raises(FileFormatError) as caught:
        parse_prompty(text + body, "p.prompty", "p")
    assert str(caught.value).startswith(f"p.prompty:{line}: ")
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("front", "words"),
    [
        (
            "model: {id: m, provider: p}\nmetadata: {promptstage: {modelVersion: '1'}}\nfoo: 1\n",
            "unknown field 'foo'",
        ),
        (
            "model: {id: m, provider: p, temprature: 1}\nmetadata: {promptstage: {modelVersion: '1'}}\n",
            "unknown field 'temprature' in model",
        ),
        ("model: {id: m, provider: p}\n", "metadata.promptstage.modelVersion is missing"),
        (
            "model: {id: m, provider: p}\nmetadata: {promptstage: {modelVersion: '1'}}\n"
            "inputs: [{name: x, kind: string, default: a}]\n",
            "defaults are not supported",
        ),
        (
            "model: {id: m, provider: p}\nmetadata: {promptstage: {modelVersion: '1'}}\n"
            "template: {format: {kind: handlebars}}\n",
            "not supported",
        ),
        ("model: {api: chat, configuration: {type: anthropic, name: c}}\n", "not supported"),
        (
            "model: {id: m, provider: p}\nmetadata: {promptstage: {modelVersion: '1'}}\nmodel: [\n",
            "malformed front matter",
        ),
    ],
)
def test_front_matter_errors_are_clear(front: str, words: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        parse_prompty(f"---\n{front}---\nuser:\nHi\n", "p.prompty", "p")
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "template",
    [
        [{"role": "tool", "content": "x"}],
        [{"role": "user", "content": "\nleading newline"}],
        [{"role": "user", "content": "a\nuser:\nb"}],
        [{"role": "user", "content": "literal \\{{ x }}"}],
    ],
)
def test_content_prompty_would_change_is_refused(template: list[dict[str, str]]) -> None:
    with pytest.raises(FileFormatError, match="Dotprompt"):
        write_file(spec(template=template), "x", FORMATS["prompty"])
