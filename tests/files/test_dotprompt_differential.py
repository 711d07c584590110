"""Differential property: any body built from markers, ``~``, comments, placeholders and
whitespace reads, in promptstage, as the messages the real ``dotpromptz`` renders."""

from __future__ import annotations

import asyncio

from dotpromptz import Dotprompt
from dotpromptz.typing import DataArgument
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain.template import CompiledTemplate
from promptstage.files.dotprompt import parse_dotprompt
from promptstage.files.spec import FileFormatError

PIECES = [
    '{{role "system"}}',
    '{{role "user"~}}',
    '{{~role "model"}}',
    '{{~role "user"~}}',
    "{{! note }}",
    "{{!-- long --}}",
    "{{x}}",
    " ",
    "\n",
    "\t",
    "a",
    "b c",
    "\\{{ lit }}",
    "  \n",
    "{{~! c ~}}",
    "{{!-- a }} b --}}",
    '{{role "tool"}}',
]
ROLES = {"system": "system", "user": "user", "model": "assistant", "tool": "tool"}
HEAD = "---\nmodel: a/b\npromptstage.modelVersion: '1'\n---\n"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12))
def test_our_reading_matches_dotpromptz(pieces: list[str]) -> None:
    text = HEAD + "".join(pieces) + "\n"
    rendered = asyncio.run(Dotprompt().render(text, DataArgument(input={"x": "X"})))
    theirs = [
        {"role": ROLES[m.role.value], "content": "".join(p.text for p in m.content)}
        for m in rendered.messages
    ]
    try:
        spec = parse_dotprompt(text, "d.prompt", "d").spec
    except FileFormatError as exc:  # a body with no message at all is refused
        assert theirs == [], exc
        return
    result = CompiledTemplate(spec.type, spec.template, spec.variables, {}).render(
        {"x": "X"} if spec.variables else {}
    )
    ours = [{"role": "user", "content": result}] if spec.type == "text" else result
    if spec.type == "text" and not result.strip():
        ours = []  # dotpromptz drops an empty message
    assert ours == theirs, repr(text)
