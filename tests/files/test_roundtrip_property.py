"""Property: for any content a format can carry, our write then our read is the identity."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.strategies import contents
from promptstage.domain.config import parse_config
from promptstage.domain.template import check_template, parse_variables
from promptstage.files.layout import FORMATS, write_file
from promptstage.files.prompty import BOUNDARY, ROLES
from promptstage.files.spec import PromptSpec

DESCRIPTIONS = st.none() | st.text(max_size=30)


def _spec(raw: dict[str, Any], description: str | None) -> PromptSpec:
    type_ = raw["type"]
    return PromptSpec(
        type_,
        check_template(type_, raw["template"]),
        parse_variables(raw["variables"]),
        parse_config(raw["config"]),
        description or None,
    )


def _texts(spec: PromptSpec) -> list[str]:
    if spec.type == "text":
        return [spec.template]
    return [m["content"] for m in spec.template]


@settings(max_examples=80, deadline=None)
@given(contents(), DESCRIPTIONS)
def test_dotprompt_write_then_read_is_identity(
    raw: dict[str, Any], description: str | None
) -> None:
    spec = _spec(raw, description)
    # What Dotprompt has no spelling for (documented): a developer message, an empty message.
    assume("/" not in spec.config["model"]["provider"])
    if spec.type == "chat":
        assume(all(m["role"] != "developer" for m in spec.template))
        assume(all(m["content"].strip() for m in spec.template))
    assume(all("<<<dotprompt:" not in t for t in _texts(spec)))
    fmt = FORMATS["dotprompt"]
    text = write_file(spec, "p", fmt)
    assert fmt.parse(text, "p.prompt", "p").spec == spec


def _prompty_can_carry(text: str, *, text_prompt: bool) -> bool:
    lines = text.splitlines()
    return (
        bool(text.strip())
        and text == "\n".join(lines).strip("\n")
        and not (text_prompt and text[:1].isspace())
        and not any(BOUNDARY.match(line.strip()) for line in lines)
        and "\\{" not in text
        and "{%" not in text
        and "{#" not in text
    )


@settings(max_examples=80, deadline=None)
@given(contents(), DESCRIPTIONS)
def test_prompty_write_then_read_is_identity(raw: dict[str, Any], description: str | None) -> None:
    raw["config"]["tools"] = [
        {
            "name": t["name"],
            "description": t["description"],
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
        for t in raw["config"]["tools"]
    ]
    spec = _spec(raw, description)
    if spec.type == "chat":
        assume(all(m["role"] in ROLES for m in spec.template))
    assume(all(_prompty_can_carry(t, text_prompt=spec.type == "text") for t in _texts(spec)))
    fmt = FORMATS["prompty"]
    text = fmt.write(spec, "p.prompty")  # raises when the front matter holds "---" or "+++"
    assert fmt.parse(text, "p.prompty", "p").spec == spec
