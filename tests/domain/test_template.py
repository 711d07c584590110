"""Logic-less templates: parsing, escaping, includes, rendering and their errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain.template import (
    MAX_TEMPLATE_BYTES,
    CompiledTemplate,
    Include,
    Var,
    check_template,
    escape,
    includes_of,
    parse,
    parse_variables,
)
from promptstage.errors import InvalidInputError, TemplateError

BRACEY = st.text(
    st.sampled_from("{}\\ a>@.") | st.characters(exclude_categories=("Cs",)), max_size=60
)


def compile_text(
    template: str, variables: list[Any] | None = None, includes: dict[str, str] | None = None
) -> CompiledTemplate:
    declared = parse_variables(variables if variables is not None else [])
    return CompiledTemplate("text", template, declared, includes or {})


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(BRACEY)
def test_escape_round_trips_any_text(text: str) -> None:
    assert CompiledTemplate("text", escape(text), [], {}).render({}) == text


@settings(deadline=None)
@given(BRACEY)
def test_escaped_text_has_no_placeholders(text: str) -> None:
    assert all(isinstance(seg, str) for seg in parse(escape(text)))


def test_parse_splits_literals_placeholders_and_includes() -> None:
    assert parse("Hi {{name}}, {{  mood\t}} \\{{ x }} {{> shared.tone@3 }}!") == (
        "Hi ",
        Var("name"),
        ", ",
        Var("mood"),
        " {{ x }} ",
        Include("shared.tone", 3),
        "!",
    )


def test_lone_braces_are_literal() -> None:
    assert compile_text("{ a } }} {x}").render({}) == "{ a } }} {x}"


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("Hello {{ name", "never closed"),
        ("{{ a + b }}", "not a placeholder"),
        ("{{ a.b }}", "not a placeholder"),
        ("{{}}", "not a placeholder"),
        ("{{ 1abc }}", "not a placeholder"),
        ("{{# if x }}", "not a placeholder"),
        ("{{> shared.tone@prod }}", "must pin a version number"),
        ("{{> shared.tone }}", "must pin a version number"),
        ("{{> shared.tone@0 }}", "must pin a version number"),
    ],
)
def test_parse_errors_name_the_template(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match=fragment) as info:
        check_template("text", template)
    assert info.value.field == "template"


def test_parse_error_names_the_chat_message() -> None:
    template = [{"role": "system", "content": "ok"}, {"role": "user", "content": "{{ a + b }}"}]
    with pytest.raises(TemplateError) as info:
        check_template("chat", template)
    assert info.value.field == "template[1].content"


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ("just text", "template"),
        ([], "template"),
        ({"role": "user", "content": "x"}, "template"),
        (["hello"], "template[0]"),
        ([{"role": "user"}], "template[0]"),
        ([{"role": "user", "content": "x", "name": "bob"}], "template[0]"),
        (
            [{"role": "user", "content": "x"}, {"role": "wizard", "content": "x"}],
            "template[1].role",
        ),
        ([{"role": "user", "content": ["x"]}], "template[0].content"),
    ],
)
def test_chat_template_shape_errors_name_the_field(template: Any, field: str) -> None:
    with pytest.raises(TemplateError) as info:
        check_template("chat", template)
    assert info.value.field == field


def test_text_template_must_be_a_string() -> None:
    with pytest.raises(TemplateError) as info:
        check_template("text", [{"role": "user", "content": "x"}])
    assert info.value.field == "template"


def test_template_size_limit() -> None:
    assert check_template("text", "x" * (MAX_TEMPLATE_BYTES - 2))  # JSON quotes count
    with pytest.raises(TemplateError, match="256 KiB") as info:
        check_template("text", "x" * MAX_TEMPLATE_BYTES)
    assert info.value.field == "template"


def test_check_template_normalizes_chat_messages() -> None:
    assert check_template("chat", [{"content": "c", "role": "user"}]) == [
        {"role": "user", "content": "c"}
    ]


def test_render_text_and_chat() -> None:
    variables = [{"name": "name", "type": "string"}, {"name": "n", "type": "integer"}]
    assert (
        compile_text("{{name}} has {{ n }}", variables).render({"name": "Ana", "n": 3})
        == "Ana has 3"
    )
    chat = CompiledTemplate(
        "chat",
        [{"role": "system", "content": "Be {{ mood }}."}, {"role": "user", "content": "{{ q }}"}],
        parse_variables(["mood", "q"]),
        {},
    )
    assert chat.render({"mood": "kind", "q": "hi?"}) == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "hi?"},
    ]


def test_render_serializes_non_strings_as_compact_json() -> None:
    template = compile_text("{{ a }}|{{ b }}|{{ c }}|{{ d }}", ["a", "b", "c", "d"])
    assert (
        template.render({"a": {"k": [1, 2]}, "b": True, "c": None, "d": "é"})
        == '{"k":[1,2]}|true|null|é'
    )


def test_render_optional_variable_defaults_to_empty() -> None:
    assert compile_text("[{{ x }}]", [{"name": "x", "required": False}]).render({}) == "[]"


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({}, "name", "missing required variable 'name'"),
        ({"name": "Ana", "nmae": "typo"}, "nmae", "unknown variable 'nmae'"),
        ({"name": 42}, "name", "must be of type string"),
        ({"name": "Ana", "count": "3"}, "count", "must be of type integer"),
        ({"name": "Ana", "count": True}, "count", "must be of type integer"),
        ({"name": "Ana", "ratio": "0.5"}, "ratio", "must be of type number"),
        ({"name": "Ana", "ratio": float("nan")}, "ratio", "must be a JSON value"),
    ],
)
def test_render_errors_name_the_variable(values: dict[str, Any], field: str, fragment: str) -> None:
    template = compile_text(
        "{{ name }} {{ count }} {{ ratio }}",
        [
            {"name": "name", "type": "string"},
            {"name": "count", "type": "integer", "required": False},
            {"name": "ratio", "type": "number", "required": False},
        ],
    )
    with pytest.raises(TemplateError, match=fragment) as info:
        template.render(values)
    assert info.value.field == field


def test_includes_are_inlined_transitively() -> None:
    includes = {
        "shared.tone@3": "Be {{ mood }}. {{> shared.sig@1 }}",
        "shared.sig@1": "-- {{ team }}",
    }
    template = compile_text(
        "{{> shared.tone@3 }} Hi {{ name }}", ["mood", "team", "name"], includes
    )
    assert template.placeholders == {"mood", "team", "name"}
    assert (
        template.render({"mood": "kind", "team": "ops", "name": "Ana"}) == "Be kind. -- ops Hi Ana"
    )


def test_include_that_cannot_be_resolved_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"include shared\.tone@3 cannot be resolved") as info:
        compile_text("{{> shared.tone@3 }}")
    assert info.value.field == "template"


def test_include_loop_stops_at_the_depth_limit() -> None:
    with pytest.raises(TemplateError, match="cannot be resolved"):
        compile_text("{{> a@1 }}", includes={"a@1": "x{{> a@1 }}"})


def test_includes_of_lists_each_include_once_in_order() -> None:
    template = [
        {"role": "system", "content": "{{> b@2 }}{{> a@1 }}"},
        {"role": "user", "content": "{{> b@2 }}"},
    ]
    assert [i.key for i in includes_of("chat", template)] == ["b@2", "a@1"]


def test_parse_variables_normalizes_and_sorts() -> None:
    assert parse_variables(["b", {"name": "a", "type": "number", "required": False}]) == [
        {"name": "a", "type": "number", "required": False},
        {"name": "b", "type": None, "required": True},
    ]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"name": "a"}, "variables"),
        ([5], "variables[0]"),
        ([{"name": "a", "default": 1}], "variables[0]"),
        ([{"name": "1a"}], "variables[0].name"),
        ([{"name": "a-b"}], "variables[0].name"),
        (["a", {"name": "a"}], "variables[1].name"),
        ([{"name": "a", "type": "str"}], "variables[0].type"),
        ([{"name": "a", "required": "yes"}], "variables[0].required"),
    ],
)
def test_parse_variables_errors_name_the_field(variables: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as info:  # TemplateError, or a name error
        parse_variables(variables)
    assert info.value.field == field


@pytest.mark.parametrize(
    "template",
    [
        "Hi {{ name.__class__ }}",
        'Hi {{ name|attr("format") }}',
        "Hi {{ name.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id') }}",
    ],
)
def test_attribute_and_filter_access_is_not_a_placeholder(template: str) -> None:
    """Security threat 12: templates are logic-less, so sandbox-escape payloads never parse."""
    with pytest.raises(TemplateError, match="is not a placeholder"):
        CompiledTemplate("text", template, [{"name": "name"}], {})


def test_values_are_data_and_are_never_rendered_again() -> None:
    """Security threat 12: a value carrying template syntax comes out as written."""
    compiled = CompiledTemplate("text", "Hi {{ name }}", [{"name": "name"}], {})
    payload = "{{ name }} {{ __class__ }} {% for x in range(9) %}x{% endfor %}"
    assert compiled.render({"name": payload}) == f"Hi {payload}"


BLOCKY = st.lists(
    st.sampled_from(["{", "}", "%", "\\", " ", "a", "{%", "%}", "{{", "}}"]), max_size=30
).map("".join)


@settings(deadline=None)
@given(BLOCKY)
def test_escape_round_trips_block_syntax_and_passes_the_write_check(text: str) -> None:
    """``escape`` makes any text, Jinja-looking or not, a template that is accepted and
    renders to itself."""
    escaped = escape(text)
    check_template("text", escaped)
    assert CompiledTemplate("text", escaped, [], {}).render({}) == text


@pytest.mark.parametrize(
    "template",
    [
        "Hello {{ name",
        "{{ a + b }}",
        "{{> shared.tone@prod }}",
        "{{ name }} {% if x %}",
    ],
)
def test_error_messages_show_the_escape_as_the_user_types_it(template: str) -> None:
    with pytest.raises(TemplateError) as info:
        check_template("text", template)
    message = str(info.value)
    assert "{{{{" not in message
    if "never closed" in message or "not a placeholder" in message:
        assert "'\\{{'" in message


@pytest.mark.parametrize(
    "template",
    [
        "{% if vip %}Hi{% endif %}",
        "Intro\n{%- for x in items -%}{{ x }}{% endfor %}",
        "{% raw %}",
    ],
)
def test_jinja_blocks_are_refused_with_the_syntax_and_the_escape(template: str) -> None:
    with pytest.raises(TemplateError, match="Jinja-style block") as info:
        check_template("text", template, field="template")
    message = str(info.value)
    assert "logic-less" in message and "{{ name }}" in message and "'\\{%'" in message
    assert info.value.field == "template"


def test_an_escaped_block_is_stored_and_renders_as_written() -> None:
    template = "Write \\{% if x %} literally"
    assert check_template("text", template) == template
    assert compile_text(template).render({}) == "Write {% if x %} literally"


def test_a_lone_percent_brace_is_literal() -> None:
    assert compile_text("100{% of %").render({}) == "100{% of %"
    check_template("text", "100{% of %")


@settings(deadline=None)
@given(
    st.text(st.characters(min_codepoint=0xC0, max_codepoint=0x2FFF), min_size=1, max_size=8)
    .map(lambda s: "v" + s)
    .filter(lambda s: s.isidentifier() and not s.isascii())
)
def test_non_ascii_variable_names_say_names_are_ascii(name: str) -> None:
    with pytest.raises(TemplateError, match="variable names are ASCII letters, digits and _"):
        check_template("text", f"Hi {{{{ {name} }}}}")
    with pytest.raises(InvalidInputError, match="variable names are ASCII letters, digits and _"):
        parse_variables([name])
