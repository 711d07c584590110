"""Differential property: a Prompty body built from role lines, placeholders and whitespace
reads, in promptstage, as the messages the real ``prompty`` runtime prepares."""

from __future__ import annotations

import tempfile
from pathlib import Path

import prompty
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain.template import CompiledTemplate
from promptstage.files.prompty import parse_prompty
from promptstage.files.spec import FileFormatError

PIECES = [
    "system:\n",
    "user:\n",
    "# assistant:\n",
    "  Developer :  \n",
    "a",
    "b c",
    "\n",
    "  ",
    "\t",
    "{{x}}",
    "{{ x }}",
    "x:\n",
    "user: hi\n",
]
HEAD = "---\nmodel: {id: m, provider: openai}\nmetadata: {promptstage: {modelVersion: '1'}}\n---\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10))
def test_our_reading_matches_prompty(pieces: list[str]) -> None:
    text = HEAD + "".join(pieces) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "d.prompty"
        path.write_text(text, encoding="utf-8")
        try:
            theirs = [
                {"role": m.role, "content": m.parts[0].value}
                for m in prompty.prepare(prompty.load(path), {"x": "X"})
            ]
        except ValueError:
            theirs = None  # prompty cannot read it (an empty body): neither may we
    try:
        spec = parse_prompty(text, "d.prompty", "d").spec
    except FileFormatError:
        assert not theirs, text
        return
    result = CompiledTemplate(spec.type, spec.template, spec.variables, {}).render(
        {"x": "X"} if spec.variables else {}
    )
    ours = [{"role": "system", "content": result}] if spec.type == "text" else result
    assert ours == theirs, repr(text)
