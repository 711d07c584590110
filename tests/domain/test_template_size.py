"""Bounded rendering (issue 11, defect 3): the expansion's size is counted without building it,
a version over the limit is refused naming the include that blows it up, and a render over the
limit stops before the string is built."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain.template import (
    DEFAULT_MAX_RENDERED_BYTES,
    CompiledTemplate,
    check_expansion,
    expanded_size,
    parse_variables,
)
from promptstage.errors import TemplateError


def fan_out(width: int, depth: int, leaf: str = "x" * 100) -> dict[str, str]:
    """``n0@1`` includes ``n1@1`` ``width`` times, which includes ``n2@1`` ``width`` times..."""
    includes = {f"n{depth}@1": leaf}
    for level in range(depth - 1, 0, -1):
        includes[f"n{level}@1"] = f"{{{{> n{level + 1}@1 }}}}" * width
    return includes


def test_the_reproduction_shape_is_refused_naming_the_include() -> None:
    # 2,000 includes of a 100-byte version against a 100 KB limit: the 200 MB case, scaled down.
    includes = {"shared.tone@1": "x" * 100}
    template = "intro " + "{{> shared.tone@1 }}" * 2_000
    assert expanded_size("text", template, includes) == 6 + 200_000
    with pytest.raises(TemplateError) as caught:
        check_expansion("text", template, includes, 100 * 1024)
    message = caught.value.message
    assert "the include `shared.tone@1` appears 2,000 times" in message
    assert "195.3 KiB" in message and "over the 100 KiB limit" in message


def test_the_200_mb_case_at_the_default_limit_is_refused_fast() -> None:
    includes = {"shared.tone@1": "x" * 100_000}
    template = "{{> shared.tone@1 }}" * 2_000
    tracemalloc.start()
    try:
        with pytest.raises(
            TemplateError, match=r"appears 2,000 times: the expansion is 190\.7 MiB"
        ):
            check_expansion("text", template, includes, DEFAULT_MAX_RENDERED_BYTES)
        compiled = CompiledTemplate("text", template, [], includes)
        with pytest.raises(TemplateError, match="over the 1 MiB limit"):
            compiled.render({})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"sizing must not build the expansion ({peak} bytes allocated)"


def test_nested_fan_out_is_counted_without_expanding_it() -> None:
    # 100 x 100 x 100 x 100 x 100-byte leaves: 10 GB, counted in microseconds.
    includes = fan_out(100, 5)
    template = "{{> n1@1 }}"
    assert expanded_size("text", template, includes) == 100**5
    with pytest.raises(TemplateError) as caught:
        check_expansion("text", template, includes, DEFAULT_MAX_RENDERED_BYTES)
    # The blame goes to the largest include that fits the limit on its own: its copies, not
    # one big part, make the expansion too large.
    assert "the include `n3@1` appears 10,000 times: the expansion is 9.3 GiB" in (
        caught.value.message
    )
    assert caught.value.details == {"include": "n3@1"}
    with pytest.raises(TemplateError, match="over the 1 MiB limit"):
        CompiledTemplate("text", template, [], includes).render({})


def test_within_the_limit_the_template_renders() -> None:
    includes = fan_out(10, 3)  # 100 leaves of 100 bytes: 10,000 bytes
    check_expansion("text", "{{> n1@1 }}", includes, 10_000)
    with pytest.raises(TemplateError, match=r"over the 9\.8 KiB limit"):
        check_expansion("text", "!{{> n1@1 }}", includes, 10_000)
    compiled = CompiledTemplate("text", "{{> n1@1 }}", [], includes, max_bytes=10_000)
    assert compiled.render({}) == "x" * 10_000


def test_placeholders_count_as_written_and_chat_messages_add_up() -> None:
    template = [
        {"role": "system", "content": "{{ name }}é"},
        {"role": "user", "content": "{{> shared@2 }}{{name}}"},
    ]
    includes = {"shared@2": "ab{{ x }}"}
    # {{name}} = 8 bytes (twice), é = 2 bytes, ab = 2, {{x}} = 5.
    assert expanded_size("chat", template, includes) == 8 + 2 + 2 + 5 + 8


def test_a_large_variable_value_is_refused_before_the_string_is_built() -> None:
    declared = parse_variables(["doc"])
    compiled = CompiledTemplate("text", "{{ doc }}" * 1_000, declared, {})
    value = "y" * 1_000_000  # 1 GB once repeated 1,000 times
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as caught:
            compiled.render({"doc": value})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"the render must stop before building ({peak} bytes allocated)"
    assert caught.value.field == "doc"
    assert "variable 'doc' (976.6 KiB) appears 1,000 times" in caught.value.message
    assert compiled.render({"doc": "y"}) == "y" * 1_000


def test_a_render_exactly_at_the_limit_passes() -> None:
    declared = parse_variables(["v"])
    compiled = CompiledTemplate("text", "ab{{ v }}", declared, {}, max_bytes=10)
    assert compiled.render({"v": "é" * 4}) == "ab" + "é" * 4  # 2 + 8 bytes
    with pytest.raises(TemplateError, match="11 bytes, over the 10 B limit"):
        compiled.render({"v": "é" * 4 + "!"})


NAMES = st.sampled_from(["a", "bb", "ccc"])
LITERALS = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="{}\\"), max_size=8)


@st.composite
def nested(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    """A template and its includes: a chain of up to 4 levels, each mixing text, placeholders
    and several includes of the level below."""
    depth = draw(st.integers(0, 4))
    includes: dict[str, str] = {}
    below: str | None = None
    for level in range(depth, -1, -1):
        parts: list[str] = []
        for _ in range(draw(st.integers(0, 5))):
            kind = draw(st.sampled_from(["text", "var", "include"]))
            if kind == "text":
                parts.append(draw(LITERALS))
            elif kind == "var":
                parts.append("{{" + draw(st.sampled_from(["", " "])) + draw(NAMES) + " }}")
            elif below is not None:
                parts.append(f"{{{{> {below} }}}}")
        text = "".join(parts)
        if level == 0:
            return text, includes
        below = f"p{level}@1"
        includes[below] = text
    raise AssertionError("unreachable")


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(nested())
def test_expanded_size_is_the_rendered_length_with_placeholders_as_written(
    case: tuple[str, dict[str, str]],
) -> None:
    template, includes = case
    declared: list[dict[str, Any]] = parse_variables(["a", "bb", "ccc"])
    compiled = CompiledTemplate("text", template, declared, includes)
    tight = {name: "{{" + name + "}}" for name in ("a", "bb", "ccc")}
    rendered = compiled.render(tight)
    assert expanded_size("text", template, includes) == len(rendered.encode())
    limit = len(rendered.encode())
    check_expansion("text", template, includes, limit)
    if limit:
        with pytest.raises(TemplateError):
            check_expansion("text", template, includes, limit - 1)
        with pytest.raises(TemplateError):
            CompiledTemplate("text", template, declared, includes, max_bytes=limit - 1).render(
                tight
            )
