"""The files we write, read by the real ``dotpromptz`` and ``prompty`` packages: same model,
parameters and messages as promptstage renders."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import prompty
import pytest
from dotpromptz import Dotprompt
from dotpromptz.parse import parse_document
from dotpromptz.typing import DataArgument

from promptstage.domain.template import CompiledTemplate
from promptstage.files.layout import FORMATS, write_file
from promptstage.files.prompty_model import OPTION_NAMES
from promptstage.files.spec import PromptSpec

from .samples import spec

VALUES = {"clinic": "Vienna", "question": "Tomorrow at 9?", "text": "the report"}
ROLE_OF_DOTPROMPT = {"system": "system", "user": "user", "model": "assistant", "tool": "tool"}

CHATS = [
    [
        {"role": "system", "content": "You book for {{clinic}}."},
        {"role": "user", "content": "{{question}}"},
    ],
    [
        {"role": "system", "content": "Line one\n\n  line two for {{clinic}}\n"},
        {"role": "user", "content": "  {{question}}"},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "Literal \\{{ braces }} stay"},
    ],
]


def ours(original: PromptSpec) -> list[dict[str, str]]:
    """promptstage's own rendering, as messages."""
    rendered = CompiledTemplate(original.type, original.template, original.variables, {}).render(
        {k: v for k, v in VALUES.items() if any(d["name"] == k for d in original.variables)}
    )
    return [{"role": "user", "content": rendered}] if original.type == "text" else rendered


@pytest.mark.parametrize("template", CHATS)
def test_dotpromptz_reads_our_file_as_we_do(template: Any) -> None:
    original = spec(template=template)
    text = write_file(original, "booking", FORMATS["dotprompt"])
    document = parse_document(text)
    assert document.model == "openai/gpt-4o"
    assert document.config == original.config["params"]
    assert document.tools == ["find_slot"]
    assert document.ext["promptstage"]["modelVersion"] == "2024-08-06"
    rendered = asyncio.run(Dotprompt().render(text, DataArgument(input=VALUES)))
    messages = [
        {"role": ROLE_OF_DOTPROMPT[m.role.value], "content": "".join(p.text for p in m.content)}
        for m in rendered.messages
    ]
    assert messages == ours(original)


def test_dotpromptz_renders_a_text_prompt_as_one_user_message() -> None:
    original = spec("text", "\nSummarize {{text}}\n")
    text = write_file(original, "s", FORMATS["dotprompt"])
    rendered = asyncio.run(Dotprompt().render(text, DataArgument(input=VALUES)))
    assert [(m.role.value, m.content[0].text) for m in rendered.messages] == [
        ("user", "\nSummarize the report\n")
    ]


def test_dotpromptz_reads_our_input_schema() -> None:
    original = spec(
        variables=[
            {"name": "clinic", "type": "string"},
            {"name": "question", "type": "integer", "required": False},
            {"name": "extra", "type": "object", "required": False},
        ]
    )
    text = write_file(original, "booking", FORMATS["dotprompt"])
    metadata = asyncio.run(Dotprompt().render_metadata(text))
    schema = metadata.input.model_dump(by_alias=True)["schema"]
    assert schema["required"] == ["clinic"]
    assert schema["properties"]["clinic"] == {"type": "string"}
    assert schema["properties"]["question"]["type"] == ["integer", "null"]
    assert "object" in schema["properties"]["extra"]["type"]


@pytest.mark.parametrize(
    "template",
    [
        CHATS[0],
        [
            {"role": "developer", "content": "Be {{clinic}}"},
            {"role": "user", "content": "{{question}}"},
        ],
    ],
)
def test_prompty_reads_our_file_as_we_do(template: Any, tmp_path: Path) -> None:
    original = spec(template=template)
    path = tmp_path / "booking.prompty"
    path.write_text(write_file(original, "booking", FORMATS["prompty"]), encoding="utf-8")
    agent = prompty.load(path)
    assert (agent.model.provider, agent.model.id) == ("openai", "gpt-4o")
    options = agent.model.options
    assert options.temperature == 0.2
    assert options.max_output_tokens == 300
    assert options.top_p == 0.9
    assert options.additional_properties == {"logprobs": True}
    assert [t.name for t in agent.tools] == ["find_slot"]
    assert [(p.name, p.kind, p.required) for p in agent.tools[0].parameters] == [
        ("day", "string", True)
    ]
    messages = prompty.prepare(agent, VALUES)
    assert [{"role": m.role, "content": m.parts[0].value} for m in messages] == ours(original)
    assert set(OPTION_NAMES) >= {"temperature", "max_tokens", "top_p"}


HAND_WRITTEN = [
    '{{role "system"}}\nYou book for {{clinic}}.\n{{! a note }}\n{{role "user"}}\n{{question}}',
    "{{! header comment }}\nAsk {{question}}\n  {{!-- spaced --}}  \nfor {{clinic}}",
    '{{role "system"~}}\n  Hi {{clinic}}  \n{{~role "user"}} {{question}} {{!x}}',
    'Text first\n{{role "model"}}ok{{role "user"}}{{question}}',
    '{{role "system"}}\n\n{{role "user"}}only user {{question}}',
]


@pytest.mark.parametrize("body", HAND_WRITTEN)
def test_hand_written_dotprompt_reads_as_dotpromptz_renders(body: str) -> None:
    from promptstage.files.dotprompt import parse_dotprompt

    text = "---\nmodel: a/b\npromptstage.modelVersion: '1'\n---\n" + body + "\n"
    parsed = parse_dotprompt(text, "h.prompt", "h").spec
    rendered = asyncio.run(Dotprompt().render(text, DataArgument(input=VALUES)))
    theirs = [
        {"role": ROLE_OF_DOTPROMPT[m.role.value], "content": "".join(p.text for p in m.content)}
        for m in rendered.messages
    ]
    assert theirs == ours(parsed)


def test_prompty_reads_our_text_prompt_and_indented_messages(tmp_path: Path) -> None:
    chat = spec(
        template=[
            {"role": "system", "content": "  Indented for {{clinic}}\n\n  still system"},
            {"role": "user", "content": "{{question}}"},
        ]
    )
    path = tmp_path / "chat.prompty"
    path.write_text(write_file(chat, "chat", FORMATS["prompty"]), encoding="utf-8")
    messages = prompty.prepare(prompty.load(path), VALUES)
    assert [{"role": m.role, "content": m.parts[0].value} for m in messages] == ours(chat)

    text = spec("text", "Summarize {{text}}\n\nbriefly")
    path = tmp_path / "text.prompty"
    path.write_text(write_file(text, "text", FORMATS["prompty"]), encoding="utf-8")
    [message] = prompty.prepare(prompty.load(path), VALUES)
    assert message.parts[0].value == ours(text)[0]["content"]
