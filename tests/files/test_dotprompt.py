"""Reading and writing Dotprompt files: fields, messages, and the errors for what we refuse."""

from __future__ import annotations

import pytest

from promptstage.files.dotprompt import parse_dotprompt, write_dotprompt
from promptstage.files.layout import FORMATS, write_file
from promptstage.files.spec import FileFormatError

from .samples import DOTPROMPT, spec


def test_reads_model_params_tools_and_variables() -> None:
    parsed = parse_dotprompt(DOTPROMPT, "booking.prompt", "booking").spec
    assert parsed.type == "chat"
    assert parsed.config["model"] == {
        "provider": "openai",
        "name": "gpt-4o",
        "version": "2024-08-06",
    }
    assert parsed.config["params"] == {"temperature": 0.2, "max_tokens": 300}
    assert [t["name"] for t in parsed.config["tools"]] == ["find_slot"]
    assert parsed.config["tools"][0]["parameters"]["properties"] == {"day": {"type": "string"}}
    assert parsed.variables == [
        {"name": "clinic", "type": "string", "required": True},
        {"name": "question", "type": "string", "required": False},
    ]
    # Dotprompt keeps the newline after a marker: so do we (the real dotpromptz agrees).
    assert parsed.template == [
        {"role": "system", "content": "\nYou book appointments for {{clinic}}.\n"},
        {"role": "user", "content": "\n{{question}}"},
    ]
    assert parsed.description == "Books appointments"


def test_no_schema_declares_each_placeholder() -> None:
    text = "---\nmodel: a/b\npromptstage.modelVersion: '1'\n---\nHi {{name}} and {{ other }}\n"
    parsed = parse_dotprompt(text, "x.prompt", "x").spec
    assert parsed.type == "text"
    assert parsed.template == "Hi {{name}} and {{ other }}"
    assert [v["name"] for v in parsed.variables] == ["name", "other"]


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("Hi\n{{#if vip}}VIP{{/if}}\n", 6, "Handlebars block"),
        ("Hi\n\n{{json data}}\n", 7, "helper or expression"),
        ('{{role "system"}}\nA {{user.name}}\n', 6, "helper or expression"),
        ("Hi {{{raw}}}\n", 5, "triple braces"),
        ("Hi {{> shared}}\n", 5, "pin a version"),
        ("One\nTwo {% if x %}\n", 6, "Jinja-style block"),
        ('{{role "assistant"}}\nHi\n', 5, "not a Dotprompt role"),
        ("Hi {{~name}}\n", 5, "whitespace control"),
        ("Hi {{name\n", 5, "never closed"),
    ],
)
def test_unsupported_constructs_name_file_and_line(body: str, line: int, words: str) -> None:
    text = "---\nmodel: a/b\npromptstage.modelVersion: '1'\n---\n" + body
    with pytest.raises(FileFormatError) as caught:
        parse_dotprompt(text, "p.prompt", "p")
    assert str(caught.value).startswith(f"p.prompt:{line}: ")
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("model: a/b\n---\nHi\n", "must start with '---'"),
        ("---\nmodel: a/b\nHi\n", "never closed"),
        ("---\nmodel: [a/b\n---\nHi\n", "p.prompt:3: malformed front matter"),
        ("---\n- a\n---\nHi\n", "must be a YAML mapping"),
        (
            "---\nmodel: a/b\npromptstage.modelVersion: '1'\ntemprature: 1\n---\nHi\n",
            "unknown field 'temprature'",
        ),
        (
            "---\nmodel: a/b\npromptstage.modelVersion: '1'\ninput: {default: {}}\n---\nHi\n",
            "unknown field 'default' in input",
        ),
        ("---\nmodel: a/b\n---\nHi\n", "promptstage.modelVersion is missing"),
        ("---\nmodel: gpt-4o\npromptstage.modelVersion: '1'\n---\nHi\n", "'provider/name'"),
        (
            "---\nname: other\nmodel: a/b\npromptstage.modelVersion: '1'\n---\nHi\n",
            "rename the file back",
        ),
        (
            "---\nmodel: a/b\npromptstage.modelVersion: '1'\ninput:\n  schema: {x: 'null'}\n---\n{{x}}\n",
            "type 'null' is not supported",
        ),
    ],
)
def test_front_matter_errors_are_clear(text: str, words: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        parse_dotprompt(text, "p.prompt", "p")
    assert words in str(caught.value)


def test_writes_markers_that_keep_each_message_exact() -> None:
    original = spec(
        template=[
            {"role": "system", "content": "  indented\n"},
            {"role": "user", "content": "{{question}}"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "again\n\n"},
        ]
    )
    text = write_file(original, "booking", FORMATS["dotprompt"])
    assert '{{~role "model"~}}' in text
    assert parse_dotprompt(text, "booking.prompt", "booking").spec == original


def test_text_with_outer_whitespace_survives() -> None:
    original = spec("text", "\n  Summarize {{text}}\n")
    text = write_file(original, "s", FORMATS["dotprompt"])
    assert parse_dotprompt(text, "s.prompt", "s").spec == original


def test_developer_messages_cannot_be_written() -> None:
    with pytest.raises(FileFormatError, match=r"developer.*Prompty"):
        write_dotprompt(spec(template=[{"role": "developer", "content": "x"}]), "d.prompt")
