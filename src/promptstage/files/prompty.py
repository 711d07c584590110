"""Prompty ``.prompty`` files: YAML front matter and a body with ``system:``/``user:`` lines.

The body is read as the ``prompty`` runtime reads it: leading whitespace dropped, a line such
as ``system:`` (optionally ``# system:``) starts a message, text before the first marker is a
system message, and each message loses its leading and trailing newlines. A body with no
marker is a text prompt. Placeholders are ``{{name}}`` (valid Jinja2 and Mustache); Jinja
blocks, comments, filters and expressions are refused with the file and line.
"""

from __future__ import annotations

import re
from typing import Any

from .prompty_model import (
    inputs_in,
    inputs_out,
    model_v1,
    model_v2,
    options_of,
    tools_in,
    tools_out,
)
from .spec import (
    FileFormatError,
    Parsed,
    PromptSpec,
    build_spec,
    check_name,
    check_unknown,
    dump_yaml,
    line_of,
    model_version,
    split_front_matter,
)

SUFFIX = ".prompty"
EXT = "promptstage"
ROLES = ("assistant", "developer", "system", "user")
KEYS = (
    "name",
    "description",
    "metadata",
    "model",
    "inputs",
    "tools",
    "template",
    "sample",
    "authors",
    "tags",
    "version",
)
EXT_KEYS = ("modelVersion", "retrieval", "postprocess", "metadata")
FORMATS = ("jinja2", "mustache")
BOUNDARY = re.compile(r"(?i)^\s*#?\s*(" + "|".join(ROLES) + r")(\[[^\]]*\])?\s*:\s*$")
_BLOCK = re.compile(r"\{[%#]")


def parse_prompty(text: str, source: str, name: str) -> Parsed:
    """Read a ``.prompty`` file (v1 or v2 front matter).

    Raises:
        FileFormatError: malformed front matter, an unknown field, an unsupported construct.
    """
    front = split_front_matter(text, source)
    data = front.data
    check_unknown(source, "the front matter", data, KEYS)
    warnings: list[str] = []
    for key in ("sample", "authors", "tags", "version"):
        if key in data:
            warnings.append(f"{source}: {key} was not imported")
    check_name(source, data, name)
    _template_format(source, data.get("template"))
    model = data.get("model")
    if isinstance(model, dict) and ({"api", "configuration", "parameters"} & set(model)):
        provider, model_name, params = model_v1(source, model, warnings)
    else:
        provider, model_name, params = model_v2(source, model, warnings)
    ext = (
        (data.get("metadata") or {}).get(EXT, {}) if isinstance(data.get("metadata"), dict) else {}
    )
    if set(data.get("metadata") or {}) - {EXT}:
        raise FileFormatError(source, f"metadata may only hold '{EXT}' (its settings)")
    if not isinstance(ext, dict):
        raise FileFormatError(source, f"metadata.{EXT} must be a mapping")
    check_unknown(source, f"metadata.{EXT}", ext, EXT_KEYS)
    config: dict[str, Any] = {
        "model": {
            "provider": provider,
            "name": model_name,
            "version": model_version(
                source, ext.get("modelVersion"), f"metadata.{EXT}.modelVersion"
            ),
        },
        "params": params,
        "tools": tools_in(source, data["tools"]) if "tools" in data else [],
        "metadata": ext.get("metadata", {}),
    }
    for key in ("retrieval", "postprocess"):
        if key in ext:
            config[key] = ext[key]
    variables = inputs_in(source, data["inputs"], warnings) if "inputs" in data else None
    type_, template, starts, body, body_line = _body(front.body, front.body_line, source)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise FileFormatError(source, "description must be a string")
    spec = build_spec(
        source, type_, template, variables, config, description, starts, body, body_line
    )
    return Parsed(spec, warnings)


def _template_format(source: str, template: Any) -> None:
    """Only substitution engines whose ``{{name}}`` means ours: Jinja2 and Mustache."""
    if template is None:
        return
    if isinstance(template, str):
        kind = template
    elif isinstance(template, dict):
        check_unknown(source, "template", template, ("format", "parser"))
        fmt = template.get("format") or {}
        kind = fmt.get("kind", "jinja2") if isinstance(fmt, dict) else fmt
        parser = template.get("parser") or {}
        parser_kind = parser.get("kind", "prompty") if isinstance(parser, dict) else parser
        if parser_kind != "prompty":
            raise FileFormatError(source, "template.parser.kind must be prompty")
    else:
        raise FileFormatError(source, "template must be {format: {kind: jinja2}}")
    if kind not in FORMATS:
        raise FileFormatError(source, f"template format {kind!r} is not supported; use {FORMATS}")


def _body(raw: str, first_line: int, source: str) -> tuple[str, Any, list[int], str, int]:
    """The template as the prompty parser splits the body into messages."""
    lead = len(raw) - len(raw.lstrip())
    body = raw[lead:]
    body_line = first_line + raw.count("\n", 0, lead)
    for match in _BLOCK.finditer(body):
        if body[match.start() - 1 : match.start()] == "\\":
            raise FileFormatError(
                source,
                "'\\' before '{' is not an escape in Jinja; remove it",
                line_of(body, match.start(), body_line),
            )
        kind = "comment" if match.group(0) == "{#" else "block"
        raise FileFormatError(
            source,
            f"a Jinja {kind} ({match.group(0)}...) is not supported: promptstage templates are "
            "logic-less ({{name}} placeholders only); put the logic in your code",
            line_of(body, match.start(), body_line),
        )
    escaped = body.find("\\{{")
    if escaped >= 0:
        raise FileFormatError(
            source,
            "'\\{{' is not an escape in Jinja; literal braces are not supported in "
            ".prompty files (use a .prompt file)",
            line_of(body, escaped, body_line),
        )
    messages: list[dict[str, str]] = []
    starts: list[int] = []
    role: str | None = None
    lines: list[str] = []
    offset = start = 0
    for line in body.splitlines(keepends=True):
        marker = BOUNDARY.match(line.strip())
        if marker is None:
            if not lines:
                start = offset
            lines.append(line.rstrip("\r\n"))
        else:
            if marker.group(2):
                raise FileFormatError(
                    source,
                    "role attributes (user[name=...]:) are not supported",
                    line_of(body, offset, body_line),
                )
            if lines:
                messages.append({"role": role or "system", "content": _join(lines)})
                starts.append(start + _lead(lines))
            role, lines = marker.group(1).lower(), []
        offset += len(line)
    if role is None:
        return "text", _join(lines), [start + _lead(lines)], body, body_line
    if lines:
        messages.append({"role": role, "content": _join(lines)})
        starts.append(start + _lead(lines))
    return "chat", messages, starts, body, body_line


def _join(lines: list[str]) -> str:
    """A message's content, as prompty builds it."""
    return "\n".join(lines).strip("\n")


def _lead(lines: list[str]) -> int:
    """Characters stripped from the front of a message (for line numbers)."""
    joined = "\n".join(lines)
    return len(joined) - len(joined.lstrip("\n"))


def write_prompty(spec: PromptSpec, name: str) -> str:
    """The ``.prompty`` (v2) text for ``spec`` (the inverse of :func:`parse_prompty`).

    Raises:
        FileFormatError: content Prompty cannot carry exactly (a tool message, literal
            braces, a message with leading or trailing newlines or a role-marker line).
    """
    config = spec.config
    model = config["model"]
    front: dict[str, Any] = {}
    if spec.description:
        front["description"] = spec.description
    model_out: dict[str, Any] = {
        "id": model["name"],
        "provider": model["provider"],
        "apiType": "chat",
    }
    if config["params"]:
        model_out["options"] = options_of(config["params"])
    front["model"] = model_out
    if spec.variables:
        front["inputs"] = inputs_out(spec.variables)
    if config["tools"]:
        front["tools"] = tools_out(name, config["tools"])
    front["template"] = {"format": {"kind": "jinja2"}, "parser": {"kind": "prompty"}}
    ext: dict[str, Any] = {"modelVersion": model["version"]}
    for key in ("retrieval", "postprocess"):
        if config.get(key):
            ext[key] = config[key]
    if config["metadata"]:
        ext["metadata"] = config["metadata"]
    front["metadata"] = {EXT: ext}
    head = dump_yaml(front)
    if "---" in head or "+++" in head:
        raise FileFormatError(
            name, "a value holds '---' or '+++', which Prompty reads as the end of the front matter"
        )
    if spec.type == "text":
        _check_text(name, spec.template, "the template", text_prompt=True)
        body = spec.template
    else:
        parts = []
        for i, message in enumerate(spec.template):
            if message["role"] not in ROLES:
                raise FileFormatError(
                    name,
                    f"message {i} has role {message['role']!r}, which Prompty has no marker "
                    "for; pull this prompt as Dotprompt",
                )
            _check_text(name, message["content"], f"message {i}")
            parts.append(f"{message['role']}:\n{message['content']}")
        body = "\n\n".join(parts)
    return f"---\n{head}---\n{body}\n"


def _check_text(name: str, text: str, what: str, *, text_prompt: bool = False) -> None:
    """Refuse text the prompty parser would change."""
    lines = text.splitlines()
    if (
        not text.strip()
        or text != "\n".join(lines).strip("\n")
        or (text_prompt and text[:1].isspace())
        or any(BOUNDARY.match(line.strip()) for line in lines)
        or "\\{" in text
        or _BLOCK.search(text) is not None
    ):
        raise FileFormatError(
            name,
            f"{what} is empty, starts or ends with whitespace, holds literal braces or a "
            "line Prompty reads as a role marker; pull this prompt as Dotprompt",
        )
