"""Dotprompt ``.prompt`` files: YAML front matter and a Handlebars body with role markers.

The body is promptstage's logic-less template syntax, which is the substitution subset of
Handlebars: ``{{name}}``, ``\\{{`` for literal braces, plus Dotprompt's ``{{role "system"}}``
markers (with ``~`` whitespace control) and ``{{! comments }}``. Blocks, helpers, partials
without a pinned version and ``{{{triple}}}`` are refused with the file and line.

Messages follow Dotprompt's own reading, so that the real ``dotpromptz`` renders the same
messages: the body is stripped, text before the first marker is a user message, a marker
with no text since the previous one changes that message's role, and ``~`` strips the
whitespace on its side. The writer picks the spelling that keeps each message exact.
"""

from __future__ import annotations

from typing import Any

from .dotprompt_body import ROLES_IN, read_body
from .schema import from_schema, to_picoschema
from .spec import (
    FileFormatError,
    Parsed,
    PromptSpec,
    build_spec,
    check_name,
    check_unknown,
    dump_yaml,
    model_parts,
    model_version,
    split_front_matter,
)

SUFFIX = ".prompt"
EXT = "promptstage"
KEYS = (
    "name",
    "description",
    "model",
    "config",
    "input",
    "tools",
    "toolDefs",
    "output",
    "metadata",
    f"{EXT}.modelVersion",
    f"{EXT}.retrieval",
    f"{EXT}.postprocess",
)
ROLES_OUT = {v: k for k, v in ROLES_IN.items()}
COMMENT = "{{!-- --}}{{!-- --}}"  # two: a lone comment on its line eats the line


def parse_dotprompt(text: str, source: str, name: str) -> Parsed:
    """Read a ``.prompt`` file.

    Raises:
        FileFormatError: malformed front matter, an unknown field, an unsupported construct.
    """
    front = split_front_matter(text, source)
    data = front.data
    check_unknown(source, "the front matter", data, KEYS)
    check_name(source, data, name)
    type_, template, starts, body, body_line = read_body(front.body, front.body_line, source)
    provider, model_name = model_parts(source, data.get("model"), "model")
    params = data.get("config", {})
    if not isinstance(params, dict):
        raise FileFormatError(source, "config must be a mapping of model parameters")
    variables = None
    if "input" in data:
        inputs = data["input"]
        if not isinstance(inputs, dict):
            raise FileFormatError(source, "input must be a mapping with 'schema'")
        check_unknown(source, "input", inputs, ("schema",))
        if "schema" in inputs:
            variables = from_schema(source, inputs["schema"], "input.schema")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise FileFormatError(source, "metadata must be a mapping")
    if "output" in data:
        metadata = {**metadata, "output": data["output"]}
    config: dict[str, Any] = {
        "model": {
            "provider": provider,
            "name": model_name,
            "version": model_version(
                source, data.get(f"{EXT}.modelVersion"), f"{EXT}.modelVersion"
            ),
        },
        "params": params,
        "tools": _tools(source, data),
        "metadata": metadata,
    }
    for key in ("retrieval", "postprocess"):
        if f"{EXT}.{key}" in data:
            config[key] = data[f"{EXT}.{key}"]
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise FileFormatError(source, "description must be a string")
    spec = build_spec(
        source, type_, template, variables, config, description, starts, body, body_line
    )
    return Parsed(spec)


def _tools(source: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """``tools`` (names) with their ``toolDefs`` (description, inputSchema)."""
    names = data.get("tools")
    defs = data.get("toolDefs") or []
    if not isinstance(defs, list) or not all(isinstance(d, dict) for d in defs):
        raise FileFormatError(source, "toolDefs must be a list of {name, description, inputSchema}")
    by_name: dict[str, dict[str, Any]] = {}
    for i, definition in enumerate(defs):
        check_unknown(source, f"toolDefs[{i}]", definition, ("name", "description", "inputSchema"))
        by_name[str(definition.get("name"))] = definition
    if names is None:
        names = list(by_name)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise FileFormatError(source, "tools must be a list of tool names")
    stray = sorted(set(by_name) - set(names))
    if stray:
        raise FileFormatError(source, f"toolDefs defines {stray} but tools does not list them")
    out = []
    for tool_name in names:
        tool: dict[str, Any] = {"name": tool_name}
        found = by_name.get(tool_name)
        if found is not None:
            if "description" in found:
                tool["description"] = found["description"]
            if "inputSchema" in found:
                tool["parameters"] = found["inputSchema"]
        out.append(tool)
    return out


def write_dotprompt(spec: PromptSpec, name: str) -> str:
    """The ``.prompt`` text for ``spec`` (the inverse of :func:`parse_dotprompt`).

    Raises:
        FileFormatError: content Dotprompt cannot carry exactly (a ``developer`` message, an
            empty message).
    """
    config = spec.config
    front: dict[str, Any] = {}
    if spec.description:
        front["description"] = spec.description
    model = config["model"]
    front["model"] = f"{model['provider']}/{model['name']}"
    front[f"{EXT}.modelVersion"] = model["version"]
    if config["params"]:
        front["config"] = config["params"]
    if spec.variables:
        front["input"] = {"schema": to_picoschema(spec.variables)}
    if config["tools"]:
        front["tools"] = [t["name"] for t in config["tools"]]
        front["toolDefs"] = [
            {"name": t["name"], "description": t["description"], "inputSchema": t["parameters"]}
            for t in config["tools"]
        ]
    metadata = dict(config["metadata"])
    if "output" in metadata:
        front["output"] = metadata.pop("output")
    if metadata:
        front["metadata"] = metadata
    for key in ("retrieval", "postprocess"):
        if config.get(key):
            front[f"{EXT}.{key}"] = config[key]
    body = _write_body(spec, name)
    return f"---\n{dump_yaml(front)}---\n{body}\n"


def _write_body(spec: PromptSpec, name: str) -> str:
    """The body, spelled so that Dotprompt's reading gives back the exact template."""
    if spec.type == "text":
        text: str = spec.template
        head = COMMENT if text[:1].isspace() else ""
        tail = COMMENT if text[-1:].isspace() else ""
        return head + text + tail
    out: list[str] = []
    previous = ""
    for i, message in enumerate(spec.template):
        role, content = message["role"], message["content"]
        if role not in ROLES_OUT:
            raise FileFormatError(
                name,
                f"message {i} has role {role!r}, which Dotprompt has no marker for; "
                "pull this prompt as Prompty (--format prompty)",
            )
        if not content.strip() or "<<<dotprompt:" in content:
            raise FileFormatError(
                name,
                f"message {i} is empty or holds a '<<<dotprompt:' marker, which Dotprompt "
                "cannot carry exactly",
            )
        left = "~" if previous and not previous[-1].isspace() else ""
        right = "~" if not content[0].isspace() else ""
        out.append(("\n" if left else "") + f'{{{{{left}role "{ROLES_OUT[role]}"{right}}}}}')
        out.append(("\n" if right else "") + content)
        previous = content
    body = "".join(out)
    return body + COMMENT if body[-1:].isspace() else body
