"""Hypothesis strategies for version content: templates, variables and dependency snapshots."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import strategies as st

from promptstage.domain.template import CHAT_ROLES, JSON_TYPES

IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
# Text without "{{" so that it parses as a literal, whatever else it holds (unicode, '}', '\\').
PLAIN = st.text(st.characters(exclude_categories=("Cs",)), max_size=40).filter(
    lambda s: "{" not in s
)
NONBLANK = st.text(st.characters(exclude_categories=("Cs", "Z", "Cc")), min_size=1, max_size=20)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | PLAIN
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(PLAIN, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def variables(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(IDENT, unique=True, max_size=4))
    return [
        {
            "name": n,
            "type": draw(st.none() | st.sampled_from(JSON_TYPES)),
            "required": draw(st.booleans()),
        }
        for n in names
    ]


def _text_using(draw: st.DrawFn, names: list[str]) -> str:
    parts = [draw(PLAIN)]
    for n in names:
        parts += [draw(st.sampled_from(["{{%s}}", "{{ %s }}", "{{  %s\t}}"])) % n, draw(PLAIN)]
    return "".join(parts)


@st.composite
def contents(draw: st.DrawFn) -> dict[str, Any]:
    """Raw ``{type, template, variables, config}`` as a client would send it."""
    declared = draw(variables())
    names = [v["name"] for v in declared]
    type_ = draw(st.sampled_from(["text", "chat"]))
    if type_ == "text":
        template: Any = _text_using(draw, names)
    else:
        template = [
            {"role": draw(st.sampled_from(CHAT_ROLES)), "content": _text_using(draw, names)}
            for _ in range(draw(st.integers(1, 3)))
        ]
    tool_names = draw(st.lists(NONBLANK, unique=True, max_size=3))
    config: dict[str, Any] = {
        "model": {"provider": draw(NONBLANK), "name": draw(NONBLANK), "version": draw(NONBLANK)},
        "params": draw(st.dictionaries(PLAIN, json_values, max_size=4)),
        "tools": [
            {
                "name": n,
                "description": draw(PLAIN),
                "parameters": {
                    "type": "object",
                    "properties": draw(st.dictionaries(IDENT, json_values, max_size=2)),
                },
            }
            for n in tool_names
        ],
        "metadata": draw(st.dictionaries(PLAIN, json_values, max_size=3)),
    }
    if draw(st.booleans()):
        config["retrieval"] = {"index": draw(NONBLANK), "version": draw(NONBLANK)}
    if draw(st.booleans()):
        config["postprocess"] = {"name": draw(NONBLANK), "version": draw(NONBLANK)}
    return {"type": type_, "template": template, "variables": declared, "config": config}


def reordered(value: Any, rnd: random.Random) -> Any:
    """The same JSON value with every object's keys in a random insertion order."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: reordered(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [reordered(v, rnd) for v in value]
    return value


def respelled(value: Any, rnd: random.Random) -> str:
    """``value`` as JSON text with shuffled key order and random indentation and spacing."""
    indent = rnd.choice([None, 0, 1, 2, 4, "\t", " \n "])
    separators = rnd.choice([(",", ":"), (", ", ": "), (" ,", " : "), (",\n", ":\t")])
    return json.dumps(
        reordered(value, rnd), indent=indent, separators=separators, ensure_ascii=rnd.random() < 0.5
    )
