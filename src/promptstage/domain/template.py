"""Logic-less templates: ``{{ name }}`` placeholders and pinned includes ``{{> other@3 }}``.

Nothing in a template is executed. A placeholder is replaced by the caller's value (strings as
they are, other JSON values as compact JSON). ``\\{{`` is a literal ``{{`` and ``\\{%`` a literal
``{%``; ``escape`` applies that to any text so that ``render(escape(s)) == s``. A Jinja-style
block ``{% ... %}`` is refused when a template is written (:func:`check_template`): it would be
sent to the model verbatim, since nothing here runs logic. Includes name a version number, never a
label, so a version's meaning cannot change after it is written.

The rendered size is bounded (``max_bytes``, UTF-8 bytes; the caller passes its limit). The size
of a template's expansion is counted without building it: each include is parsed and counted
once, however often it appears, so a fan-out of includes (``a`` includes ``b`` 100 times, ``b``
includes ``c`` 100 times...) costs the size of its parts, not of its expansion. A placeholder
counts as written in its tight form ``{{name}}``; at render time, as its value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from promptstage.errors import TemplateError

from .names import PROMPT_NAME, VARIABLE_NAME, variable_name

MAX_TEMPLATE_BYTES = 256 * 1024
MAX_INCLUDE_DEPTH = 8
DEFAULT_MAX_RENDERED_BYTES = 1024 * 1024
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


ESCAPE = "\\{{"  # what a user types for a literal "{{"
_OPENERS = re.compile(r"\{[{%]")


def escape(text: str) -> str:
    """Make ``text`` render to itself: every ``{{`` becomes ``\\{{`` and ``{%`` ``\\{%``."""
    return _OPENERS.sub(lambda m: "\\" + m.group(0), text)


def parse(
    text: str, field: str = "template", *, refuse_blocks: bool = False
) -> tuple[Segment, ...]:
    """Split a template string into literal text, placeholders and includes.

    With ``refuse_blocks`` (when a template is written), a Jinja-style ``{% ... %}`` block is an
    error; otherwise (a stored version being rendered) it is literal text.

    Raises:
        TemplateError: for an unclosed ``{{``, anything between braces that is neither a
            variable name nor a pinned include, or a refused block, naming the position.
    """
    segments: list[Segment] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith(("\\{{", "\\{%"), i):
            literal.append(text[i + 1 : i + 3])
            i += 3
            continue
        if text.startswith("{{", i):
            end = text.find("}}", i + 2)
            if end < 0:
                raise TemplateError(
                    f"{field}: '{{{{' at offset {i} is never closed; close it with '}}}}' "
                    f"or write '{ESCAPE}' for literal braces",
                    field=field,
                )
            inner = text[i + 2 : end]
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(_placeholder(inner, i, field))
            i = end + 2
            continue
        if refuse_blocks and text.startswith("{%", i):
            end = text.find("%}", i + 2)
            if end >= 0:
                raise _block_error(text[i : end + 2], i, field)
        nxt = text.find("{{", i)
        esc = text.find("\\{{", i)
        esc_block = text.find("\\{%", i)
        block = text.find("{%", i) if refuse_blocks else -1
        stop = min(p for p in (nxt, esc, esc_block, block, n) if p >= 0)
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
    name = inner.strip()
    if name.isidentifier() and not name.isascii():
        raise TemplateError(
            f"{field}: {{{{{inner}}}}} at offset {offset}: variable names are ASCII letters, "
            "digits and _ (e.g. customer_name)",
            field=field,
        )
    if name.startswith(">"):
        raise TemplateError(
            f"{field}: include {{{{{inner}}}}} at offset {offset} must pin a version number, "
            "e.g. {{> shared.tone@3 }} (labels are not allowed: a version must never change meaning)",
            field=field,
        )
    raise TemplateError(
        f"{field}: {{{{{inner}}}}} at offset {offset} is not a placeholder; use {{{{ name }}}} with a "
        f"variable name, or write '{ESCAPE}' for literal braces (templates have no logic)",
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
        parse(text, where, refuse_blocks=True)
    return normalized


def _block_error(block: str, offset: int, field: str) -> TemplateError:
    """The error for a Jinja-style ``{% ... %}`` block: the logic-less syntax and the escape."""
    shown = block if len(block) <= 40 else block[:37] + "..."
    return TemplateError(
        f"{field}: {shown!r} at offset {offset} is a Jinja-style block; templates are "
        "logic-less (no if, for or filters): only {{ name }} placeholders and pinned "
        "includes {{> other@3 }}. Put the logic in your code and pass the result as a "
        "variable, or write '\\{%' for a literal '{%'",
        field=field,
    )


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
    """A version's template parsed once, with its includes inlined, ready to render fast.

    The expansion is measured before it is inlined: one over ``max_bytes`` is never built, and
    every render of it raises the error :meth:`check_size` raises.
    """

    __slots__ = (
        "_counts",
        "_literal",
        "_parts",
        "_refused",
        "_tally",
        "declared",
        "max_bytes",
        "placeholders",
        "type",
    )

    def __init__(
        self,
        type_: str,
        template: Any,
        variables: Sequence[Mapping[str, Any]],
        includes: Mapping[str, str],
        *,
        max_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
    ) -> None:
        self.type = type_
        self.max_bytes = max_bytes
        self.declared: dict[str, Mapping[str, Any]] = {v["name"]: v for v in variables}
        expander = _Expander(includes)
        roots = [parse(text, where) for text, where in texts(type_, template)]
        self._tally = tally = _Tally()
        for segments in roots:
            tally.add(expander.tally(segments, 0), 1)
        self._literal = tally.literal
        self._counts = tuple(tally.vars.items())
        self.placeholders = frozenset(tally.vars)
        self._parts: Any = ()
        self._refused = tally.size() > max_bytes
        if self._refused:
            return  # never built: check_size() (and so render()) says why
        if type_ == "text":
            self._parts = expander.inline(roots[0], 0)
        else:
            self._parts = [
                (m["role"], expander.inline(segments, 0))
                for m, segments in zip(template, roots, strict=True)
            ]

    @property
    def expanded_size(self) -> int:
        """UTF-8 bytes of the expansion, each placeholder counted as ``{{name}}``."""
        return self._tally.size()

    def check_size(self) -> None:
        """Raise when the expansion is over ``max_bytes``.

        Raises:
            TemplateError: naming the include whose copies make the expansion too large.
        """
        error = _oversize(self._tally, self.max_bytes)
        if error is not None:
            raise error

    def render(self, values: Mapping[str, Any]) -> Any:
        """Render with ``values``: a string for text prompts, a list of messages for chat.

        The rendered size is counted before anything is joined: a render over ``max_bytes``
        raises without building the string.

        Raises:
            TemplateError: a required variable is missing, a value is not declared, or a
                value has the wrong JSON type; the error names the variable. The expansion or
                the rendered text is over ``max_bytes``; the error names the include or the
                variable that makes it so.
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
        if self._refused:
            self.check_size()
        size = self._literal
        for name, count in self._counts:
            size += count * _utf8_len(strings[name])
        if size > self.max_bytes:
            raise self._too_large(size, strings)
        if self.type == "text":
            return _join(self._parts, strings)
        return [{"role": role, "content": _join(parts, strings)} for role, parts in self._parts]

    def _too_large(self, size: int, strings: Mapping[str, str]) -> TemplateError:
        """The error of a render over the limit, naming the variable that adds the most."""
        name, count = max(self._counts, key=lambda nc: nc[1] * _utf8_len(strings[nc[0]]))
        return TemplateError(
            f"rendering makes {size:,} bytes, over the {human_bytes(self.max_bytes)} limit: "
            f"variable {name!r} ({human_bytes(_utf8_len(strings[name]))}) appears {count:,} "
            "times; pass a shorter value",
            field=name,
        )


def expanded_size(type_: str, template: Any, includes: Mapping[str, str]) -> int:
    """UTF-8 bytes of ``template`` with its includes expanded, each placeholder as ``{{name}}``.

    Counted without building the expansion: each include is parsed and counted once.

    Raises:
        TemplateError: an include cannot be resolved (missing, or nested too deep).
    """
    return _tally_of(type_, template, includes).size()


def check_expansion(type_: str, template: Any, includes: Mapping[str, str], max_bytes: int) -> None:
    """Refuse a template whose expansion (see :func:`expanded_size`) is over ``max_bytes``.

    Raises:
        TemplateError: naming the include whose copies make it too large, e.g. "the include
            `shared.tone@1` appears 2,000 times: the expansion is 190.7 MiB, over the 1 MiB
            limit"; or an include cannot be resolved.
    """
    error = _oversize(_tally_of(type_, template, includes), max_bytes)
    if error is not None:
        raise error


def human_bytes(size: int) -> str:
    """``size`` in binary units with one decimal: ``10 B``, ``9.8 KiB``, ``1 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    text = f"{value:,.1f}".removesuffix(".0") if unit != "B" else f"{size:,}"
    return f"{text} {unit}"


@dataclass(slots=True)
class _Tally:
    """What an expansion holds: literal bytes, and how often each placeholder and include
    appears in it (transitively)."""

    literal: int = 0
    vars: dict[str, int] = field(default_factory=dict)
    includes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # expanded size of each include

    def add(self, other: _Tally, times: int) -> None:
        """Add ``times`` copies of ``other``."""
        self.literal += other.literal * times
        for name, n in other.vars.items():
            self.vars[name] = self.vars.get(name, 0) + n * times
        for key, n in other.includes.items():
            self.includes[key] = self.includes.get(key, 0) + n * times
        self.sizes.update(other.sizes)

    def size(self) -> int:
        """Bytes of the expansion with each placeholder as ``{{name}}``."""
        return self.literal + sum(n * (_utf8_len(name) + 4) for name, n in self.vars.items())


class _Expander:
    """Resolves includes: parses each once, and counts and inlines each once per depth."""

    def __init__(self, includes: Mapping[str, str]) -> None:
        self.includes = includes
        self._parsed: dict[str, tuple[Segment, ...]] = {}
        self._tallies: dict[tuple[str, int], _Tally] = {}
        self._inlined: dict[tuple[str, int], tuple[str | Var, ...]] = {}

    def _segments(self, inc: Include, depth: int) -> tuple[Segment, ...]:
        """The parsed template of an include met at ``depth``."""
        if depth >= MAX_INCLUDE_DEPTH or inc.key not in self.includes:
            raise TemplateError(
                f"include {inc.key} cannot be resolved", field="template", include=inc.key
            )
        found = self._parsed.get(inc.key)
        if found is None:
            found = self._parsed[inc.key] = parse(self.includes[inc.key], inc.key)
        return found

    def tally(self, segments: tuple[Segment, ...], depth: int) -> _Tally:
        """Count ``segments`` at ``depth``, each distinct include once."""
        out = _Tally()
        repeats: dict[Include, int] = {}
        for seg in segments:
            if isinstance(seg, str):
                out.literal += _utf8_len(seg)
            elif isinstance(seg, Var):
                out.vars[seg.name] = out.vars.get(seg.name, 0) + 1
            else:
                repeats[seg] = repeats.get(seg, 0) + 1
        for inc, times in repeats.items():
            memo = (inc.key, depth)
            inner = self._tallies.get(memo)
            if inner is None:
                inner = self.tally(self._segments(inc, depth), depth + 1)
                self._tallies[memo] = inner
            out.add(inner, times)
            out.includes[inc.key] = out.includes.get(inc.key, 0) + times
            out.sizes[inc.key] = inner.size()
        return out

    def inline(self, segments: tuple[Segment, ...], depth: int) -> tuple[str | Var, ...]:
        """``segments`` with every include replaced by its (memoised) inlined parts."""
        out: list[str | Var] = []
        for seg in segments:
            if isinstance(seg, Include):
                memo = (seg.key, depth)
                inner = self._inlined.get(memo)
                if inner is None:
                    inner = self.inline(self._segments(seg, depth), depth + 1)
                    self._inlined[memo] = inner
                out.extend(inner)
            else:
                out.append(seg)
        return tuple(out)


def _tally_of(type_: str, template: Any, includes: Mapping[str, str]) -> _Tally:
    """The tally of a whole (text or chat) template."""
    expander = _Expander(includes)
    tally = _Tally()
    for text, where in texts(type_, template):
        tally.add(expander.tally(parse(text, where), 0), 1)
    return tally


def _oversize(tally: _Tally, max_bytes: int) -> TemplateError | None:
    """The error of an expansion over ``max_bytes``, or ``None``.

    It names the include whose copies add the most among those that fit the limit on their own
    (the larger one on a tie): the place where repetition, not one big part, blows it up.
    """
    size = tally.size()
    if size <= max_bytes:
        return None
    limit = f"over the {human_bytes(max_bytes)} limit"
    candidates = [
        (tally.includes[key] * tally.sizes[key], tally.sizes[key], key)
        for key in tally.includes
        if tally.sizes[key] <= max_bytes
    ] or [(tally.includes[k] * tally.sizes[k], tally.sizes[k], k) for k in tally.includes]
    if not candidates:
        return TemplateError(
            f"template: the expansion is {human_bytes(size)}, {limit}; make it shorter",
            field="template",
        )
    _, _, key = max(candidates)
    count = tally.includes[key]
    return TemplateError(
        f"template: the include `{key}` appears {count:,} time{'' if count == 1 else 's'}: "
        f"the expansion is "
        f"{human_bytes(size)}, {limit}; include it fewer times or split the prompt",
        field="template",
        include=key,
    )


def _utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode())


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
