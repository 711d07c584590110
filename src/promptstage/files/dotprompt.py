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

import re
from typing import Any

from .schema import from_schema, to_picoschema
from .spec import (
    FileFormatError,
    Parsed,
    PromptSpec,
    build_spec,
    check_unknown,
    dump_yaml,
    line_of,
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
ROLES_IN = {"system": "system", "user": "user", "model": "assistant", "tool": "tool"}
ROLES_OUT = {v: k for k, v in ROLES_IN.items()}
JS_SPACE = " \t\n\r\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
COMMENT = "{{!-- --}}{{!-- --}}"  # two: a lone comment on its line eats the line
_ROLE = re.compile(r"""role\s+(?:"([a-z]+)"|'([a-z]+)')""")
_VAR = re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*")
_INCLUDE = re.compile(r"\s*>\s*\S+@[1-9][0-9]*\s*")
LOGICLESS = (
    'promptstage templates are logic-less: only {{name}} placeholders, {{role "..."}} '
    "markers and pinned includes {{> other@3}}; put the logic in your code and pass the "
    "result as a variable"
)


def parse_dotprompt(text: str, source: str, name: str) -> Parsed:
    """Read a ``.prompt`` file.

    Raises:
        FileFormatError: malformed front matter, an unknown field, an unsupported construct.
    """
    front = split_front_matter(text, source)
    data = front.data
    check_unknown(source, "the front matter", data, KEYS)
    if "name" in data and data["name"] != name:
        raise FileFormatError(
            source,
            f"the front matter says name {data['name']!r} but the file is {name!r}: the file's "
            "path names the prompt; rename the file back or remove 'name'",
        )
    type_, template, starts, body, body_line = _body(front.body, front.body_line, source)
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


def _body(raw: str, first_line: int, source: str) -> tuple[str, Any, list[int], str, int]:
    """The template (text or chat messages) as Dotprompt reads the body."""
    lead = len(raw) - len(raw.lstrip())
    body = raw.strip()
    body_line = first_line + raw.count("\n", 0, lead)
    pieces: list[tuple[str, int] | tuple[str, bool, bool]] = []  # (text, start) | (role, ~l, ~r)
    literal: list[str] = []
    start = 0
    last_tag: int | None = None  # where the previous tag ended
    i = 0
    while i < len(body):
        if body.startswith("\\{{", i):
            literal.append("\\{{")
            i += 3
            continue
        if not body.startswith("{{", i):
            nxt = body.find("{{", i + 1)
            nxt = len(body) if nxt < 0 else nxt
            if body[nxt - 1 : nxt] == "\\":
                nxt -= 1
            stop = max(nxt, i + 1)
            literal.append(body[i:stop])
            i = stop
            continue
        line = line_of(body, i, body_line)
        if body.startswith("{{!--", i):
            end = body.find("--}}", i + 5)
            end = end + 4 if end >= 0 else -1
        else:
            end = body.find("}}", i + 2)
            end = end + 2 if end >= 0 else -1
        if end < 0:
            raise FileFormatError(source, "'{{' is never closed with '}}'", line)
        token = body[i:end]
        inner = token[2:-2]
        if inner.startswith("!"):  # a comment renders to nothing, and so does its line
            i = _skip_comment(body, i, end, last_tag, literal)
            last_tag = i
            continue
        left, right = inner.startswith("~"), inner.endswith("~")
        core = inner[1 if left else 0 : len(inner) - (1 if right else 0)]
        role = _ROLE.fullmatch(core.strip())
        if role is None:
            _check_token(token, core, left or right, source, line)
            literal.append(token)
            i = last_tag = end
            continue
        name = role.group(1) or role.group(2)
        if name not in ROLES_IN:
            raise FileFormatError(
                source, f"role {name!r} is not a Dotprompt role; use one of {list(ROLES_IN)}", line
            )
        pieces.append(("".join(literal), start))
        literal = []
        pieces.append((name, left, right))
        i = start = last_tag = end
    pieces.append(("".join(literal), start))
    if len(pieces) == 1:
        text, _ = pieces[0]  # type: ignore[misc]
        return "text", text, [0], body, body_line
    return "chat", *_messages(pieces), body, body_line


def _skip_comment(body: str, i: int, end: int, last_tag: int | None, literal: list[str]) -> int:
    """Past a comment; a standalone one (alone on its line, Handlebars' rule) takes its line's
    whitespace and newline with it. Returns where reading goes on."""
    before = body[last_tag if last_tag is not None else 0 : i]
    nxt = body.find("{{", end)
    after = body[end : len(body) if nxt < 0 else nxt]
    if last_tag == i or nxt == end:
        return end  # next to another tag: never standalone
    root_before = last_tag is None
    prev_ok = re.search(r"(^|\n)[ \t\r\f\v]*$" if root_before else r"\n[ \t\r\f\v]*$", before)
    next_ok = re.match(r"[ \t\f\v]*\r?(\n|$)" if nxt < 0 else r"[ \t\f\v]*\r?\n", after)
    if not (prev_ok and next_ok):
        return end
    if literal:
        literal[:] = ["".join(literal).rstrip(" \t\r\f\v")]
    return end + next_ok.end()


def _check_token(token: str, core: str, tilde: bool, source: str, line: int) -> None:
    """Refuse every Handlebars construct other than a placeholder or a pinned include."""
    if core.startswith("{"):
        raise FileFormatError(
            source, f"{token} (triple braces) is not supported; use {{{{name}}}}", line
        )
    if core[:1] in ("#", "/", "^") or core.strip() == "else":
        raise FileFormatError(source, f"{token} is a Handlebars block; {LOGICLESS}", line)
    if tilde:
        raise FileFormatError(
            source, f"{token}: whitespace control (~) is supported on role markers only", line
        )
    if core.strip().startswith(">") and not _INCLUDE.fullmatch(core):
        raise FileFormatError(
            source, f"{token}: a partial must pin a version, e.g. {{{{> shared.tone@3}}}}", line
        )
    if not _VAR.fullmatch(core) and not _INCLUDE.fullmatch(core):
        raise FileFormatError(
            source, f"{token} is a Handlebars helper or expression; {LOGICLESS}", line
        )


def _messages(pieces: list[Any]) -> tuple[list[dict[str, str]], list[int]]:
    """Dotprompt's message split: ``~`` strips whitespace, empty text only changes the role."""
    texts = [list(p) for p in pieces]  # text pieces sit at even indexes, markers at odd ones
    for k in range(1, len(texts), 2):
        _, left, right = texts[k]
        if left:
            texts[k - 1][0] = texts[k - 1][0].rstrip(JS_SPACE)
        if right:
            stripped = texts[k + 1][0].lstrip(JS_SPACE)
            texts[k + 1][1] += len(texts[k + 1][0]) - len(stripped)
            texts[k + 1][0] = stripped
    messages: list[dict[str, str]] = []
    starts: list[int] = []
    role, content, at = "user", "", 0
    for k, piece in enumerate(texts):
        if k % 2 == 0:
            if piece[0].strip():
                content, at = content + piece[0], piece[1] if not content else at
            continue
        if content.strip():
            messages.append({"role": ROLES_IN[role], "content": content})
            starts.append(at)
            content = ""
        role = piece[0]
    if content.strip():
        messages.append({"role": ROLES_IN[role], "content": content})
        starts.append(at)
    return messages, starts


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
        left = "~" if previous and previous[-1] not in JS_SPACE else ""
        right = "~" if content[0] not in JS_SPACE else ""
        out.append(("\n" if left else "") + f'{{{{{left}role "{ROLES_OUT[role]}"{right}}}}}')
        out.append(("\n" if right else "") + content)
        previous = content
    body = "".join(out)
    return body + COMMENT if body[-1:].isspace() else body
