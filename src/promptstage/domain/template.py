"""Logic-less templates: ``{{ name }}`` placeholders and pinned includes ``{{> other@3 }}``.

Nothing in a template is executed. A placeholder is replaced by the caller's value (strings as
they are, other JSON values as compact JSON). ``\\{{`` is a literal ``{{``; ``escape`` applies
that to any text so that ``render(escape(s)) == s``. Includes name a version number, never a
label, so a version's meaning cannot change after it is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from promptstage.errors import TemplateError

from .names import PROMPT_NAME, VARIABLE_NAME, variable_name

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_INCLUDE_DEPTH = 8
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array")

_PLACEHOLDER = re.compile(rf"\s*({VARIABLE_NAME.pattern})\s*")
_INCLUDE = re.compile(rf">\s*({PROMPT_NAME.pattern})@([1-9][0-9]{{0,8}})\s*")


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Include:
    prompt: str
    version: int

    @property
    def key(self) -> str:
        return f"{self.prompt}@{self.version}"


Segment: TypeAlias = str | Var | Include


def escape(text: str) -> str:
    """Make ``text`` render to itself: every ``{{`` becomes ``\\{{``."""
    return text.replace("{{", "\\{{")


def parse(text: str, field: str = "template") -> tuple[Segment, ...]:
    """Split a template string into literal text, placeholders and includes.

    Raises:
        TemplateError: for an unclosed ``{{`` or anything between braces that is neither a
            variable name nor a pinned include, naming the position.
    """
    segments: list[Segment] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("\\{{", i):
            literal.append("{{")
            i += 3
            continue
        if text.startswith("{{", i):
            end = text.find("}}", i + 2)
            if end < 0:
                raise TemplateError(
                    f"{field}: '{{{{' at offset {i} is never closed; close it with '}}}}' "
                    "or write '\\{{{{' for literal braces",
                    field=field,
                )
            inner = text[i + 2 : end]
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(_placeholder(inner, i, field))
            i = end + 2
            continue
        nxt = text.find("{{", i)
        esc = text.find("\\{{", i)
        stop = min(p for p in (nxt, esc, n) if p >= 0)
        if stop == i:  # a lone char that starts neither token
            stop = i + 1
        literal.append(text[i:stop])
        i = stop
    if literal:
        segments.append("".join(literal))
    return tuple(segments)


def _placeholder(inner: str, offset: int, field: str) -> Segment:
    match = _PLACEHOLDER.fullmatch(inner)
    if match:
        return Var(match.group(1))
    match = _INCLUDE.fullmatch(inner)
    if match:
        return Include(match.group(1), int(match.group(2)))
    if inner.strip().startswith(">"):
        raise TemplateError(
            f"{field}: include {{{{{inner}}}}} at offset {offset} must pin a version number, "
            "e.g. {{> shared.tone@3 }} (labels are not allowed: a version must never change meaning)",
            field=field,
        )
    raise TemplateError(
        f"{field}: {{{{{inner}}}}} at offset {offset} is not a placeholder; use {{{{ name }}}} with a "
        "variable name, or write '\\{{{{' for literal braces (templates have no logic)",
        field=field,
    )


def _messages(template: Any, field: str) -> list[dict[str, str]]:
    if not isinstance(template, list) or not template:
        raise TemplateError(
            f"{field} of a chat prompt must be a non-empty list of {{role, content}} messages",
            field=field,
        )
    out = []
    for i, message in enumerate(template):
        where = f"{field}[{i}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise TemplateError(
                f"{where} must be an object with exactly 'role' and 'content'", field=where
            )
        if message["role"] not in CHAT_ROLES:
            raise TemplateError(
                f"{where}.role {message['role']!r} is not one of {list(CHAT_ROLES)}",
                field=f"{where}.role",
            )
        if not isinstance(message["content"], str):
            raise TemplateError(f"{where}.content must be a string", field=f"{where}.content")
        out.append({"role": message["role"], "content": message["content"]})
    return out


def check_template(type_: str, template: Any, field: str = "template") -> Any:
    """Validate the shape and size of a text or chat template and return it normalized."""
    if type_ == "text":
        if not isinstance(template, str):
            raise TemplateError(f"{field} of a text prompt must be a string", field=field)
        normalized: Any = template
    else:
        normalized = _messages(template, field)
    size = len(json.dumps(normalized, ensure_ascii=False).encode("utf-8"))
    if size > MAX_TEMPLATE_BYTES:
        raise TemplateError(
            f"{field} is {size} bytes; the limit is {MAX_TEMPLATE_BYTES} bytes (256 KiB): "
            "split it and include the parts with {{> part@N }}",
            field=field,
        )
    for text, where in texts(type_, normalized, field):
        parse(text, where)
    return normalized


def texts(type_: str, template: Any, field: str = "template") -> Iterator[tuple[str, str]]:
    """Each template string with the field path that names it."""
    if type_ == "text":
        yield template, field
    else:
        for i, message in enumerate(template):
            yield message["content"], f"{field}[{i}].content"


def includes_of(type_: str, template: Any) -> list[Include]:
    """The includes a template names directly, in order of appearance, without duplicates."""
    seen: dict[str, Include] = {}
    for text, where in texts(type_, template):
        for seg in parse(text, where):
            if isinstance(seg, Include):
                seen.setdefault(seg.key, seg)
    return list(seen.values())


def parse_variables(value: Any, field: str = "variables") -> list[dict[str, Any]]:
    """Validate declared variables; return them as ``[{name, type, required}]`` sorted by name."""
    if not isinstance(value, list):
        raise TemplateError(
            f"{field} must be a list of {{name, type?, required?}} objects", field=field
        )
    out: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(value):
        where = f"{field}[{i}]"
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict) or not set(raw) <= {"name", "type", "required"}:
            raise TemplateError(
                f"{where} must be a name or an object with 'name', optional 'type' and 'required'",
                field=where,
            )
        name = variable_name(raw.get("name"), f"{where}.name")
        if name in out:
            raise TemplateError(f"{where}.name {name!r} is declared twice", field=f"{where}.name")
        type_ = raw.get("type")
        if type_ is not None and type_ not in JSON_TYPES:
            raise TemplateError(
                f"{where}.type {type_!r} is not one of {list(JSON_TYPES)}", field=f"{where}.type"
            )
        required = raw.get("required", True)
        if not isinstance(required, bool):
            raise TemplateError(
                f"{where}.required must be true or false", field=f"{where}.required"
            )
        out[name] = {"name": name, "type": type_, "required": required}
    return [out[k] for k in sorted(out)]


IncludeLookup = Callable[[Include], "tuple[str, Any] | None"]


class CompiledTemplate:
    """A version's template parsed once, with its includes inlined, ready to render fast."""

    __slots__ = ("_parts", "declared", "placeholders", "type")

    def __init__(
        self,
        type_: str,
        template: Any,
        variables: Sequence[Mapping[str, Any]],
        includes: Mapping[str, str],
    ) -> None:
        self.type = type_
        self.declared: dict[str, Mapping[str, Any]] = {v["name"]: v for v in variables}
        used: set[str] = set()
        if type_ == "text":
            self._parts: Any = _inline(parse(template), includes, used, 0)
        else:
            self._parts = [
                (
                    m["role"],
                    _inline(parse(m["content"], f"template[{i}].content"), includes, used, 0),
                )
                for i, m in enumerate(template)
            ]
        self.placeholders = frozenset(used)

    def render(self, values: Mapping[str, Any]) -> Any:
        """Render with ``values``: a string for text prompts, a list of messages for chat.

        Raises:
            TemplateError: a required variable is missing, a value is not declared, or a
                value has the wrong JSON type; the error names the variable.
        """
        for name in values:
            if name not in self.declared:
                declared = ", ".join(sorted(self.declared)) or "none"
                raise TemplateError(
                    f"unknown variable {name!r}: this version declares {declared}", field=name
                )
        strings: dict[str, str] = {}
        for name, spec in self.declared.items():
            if name in values:
                strings[name] = _as_text(name, values[name], spec.get("type"))
            elif spec.get("required", True):
                raise TemplateError(f"missing required variable {name!r}", field=name)
            else:
                strings[name] = ""
        if self.type == "text":
            return _join(self._parts, strings)
        return [{"role": role, "content": _join(parts, strings)} for role, parts in self._parts]


def _inline(
    segments: tuple[Segment, ...], includes: Mapping[str, str], used: set[str], depth: int
) -> tuple[str | Var, ...]:
    out: list[str | Var] = []
    for seg in segments:
        if isinstance(seg, Include):
            if depth >= MAX_INCLUDE_DEPTH or seg.key not in includes:
                raise TemplateError(
                    f"include {seg.key} cannot be resolved", field="template", include=seg.key
                )
            out.extend(_inline(parse(includes[seg.key], seg.key), includes, used, depth + 1))
        else:
            if isinstance(seg, Var):
                used.add(seg.name)
            out.append(seg)
    return tuple(out)


def _join(parts: tuple[str | Var, ...], strings: Mapping[str, str]) -> str:
    return "".join(p if isinstance(p, str) else strings[p.name] for p in parts)


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list | tuple),
}


def _as_text(name: str, value: Any, type_: str | None) -> str:
    if type_ is not None and not _TYPE_CHECKS[type_](value):
        raise TemplateError(
            f"variable {name!r} must be of type {type_}, got {type(value).__name__}", field=name
        )
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TemplateError(
            f"variable {name!r} must be a JSON value (string, number, boolean, list, object): {exc}",
            field=name,
        ) from None
