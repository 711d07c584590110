"""A Dotprompt body read exactly as ``dotpromptz`` (and its Handlebars) reads it.

The steps mirror ``dotpromptz_handlebars`` (which follows Handlebars.js 4.7.9) and
``dotpromptz.parse``: the body is stripped; it is cut into text and ``{{...}}`` tags (``\\{{``
is a literal ``{{``); ``~`` strips the whitespace of the neighbouring text; a comment alone on
its line takes the line's indentation and newline with it ("standalone"); comments vanish; role
markers split the messages, and text that is only whitespace between two markers is no message.
Placeholders and pinned includes stay as written, so the template is our own syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .spec import FileFormatError, line_of

ROLES_IN = {"system": "system", "user": "user", "model": "assistant", "tool": "tool"}
_ROLE = re.compile(r"""role\s+(?:"([a-z]+)"|'([a-z]+)')""")
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INCLUDE = re.compile(r">\s*\S+@[1-9][0-9]*")
LOGICLESS = (
    'promptstage templates are logic-less: only {{name}} placeholders, {{role "..."}} '
    "markers and pinned includes {{> other@3}}; put the logic in your code and pass the "
    "result as a variable"
)


@dataclass(slots=True)
class _Text:
    text: str
    offset: int  # where ``text`` starts in the body (moves when ~ strips its front)


@dataclass(slots=True)
class _Tag:
    body: str  # inside the braces, without ~, stripped
    raw: str  # the tag as written
    before: bool  # {{~
    after: bool  # ~}}
    offset: int


Part = _Text | _Tag


def read_body(raw: str, first_line: int, source: str) -> tuple[str, Any, list[int], str, int]:
    """``(type, template, starts, body, body_line)``: a text prompt without role markers, else
    chat messages; ``starts`` are the body offsets of each template string (for line numbers).

    Raises:
        FileFormatError: a Handlebars construct promptstage cannot express, with its line.
    """
    lead = len(raw) - len(raw.lstrip())
    body = raw.strip()
    body_line = first_line + raw.count("\n", 0, lead)
    parts = _tokens(body, body_line, source)
    _strip_neighbours(parts)
    _drop_standalone(parts)
    segments: list[_Text] = [_Text("", 0)]
    markers: list[str] = []
    for part in parts:
        if isinstance(part, _Text):
            _append(segments[-1], part.text, part.offset)
            continue
        if part.body.startswith("!"):
            continue
        line = line_of(body, part.offset, body_line)
        found = _ROLE.fullmatch(part.body)
        if found is None:
            _check_tag(part, source, line)
            _append(segments[-1], part.raw, part.offset)
            continue
        name = found.group(1) or found.group(2)
        if name not in ROLES_IN:
            raise FileFormatError(
                source, f"role {name!r} is not a Dotprompt role; use one of {list(ROLES_IN)}", line
            )
        markers.append(name)
        segments.append(_Text("", part.offset + len(part.raw)))
    if not markers:
        return "text", segments[0].text, [segments[0].offset], body, body_line
    messages: list[dict[str, str]] = []
    starts: list[int] = []
    role = "user"
    pending = segments[0] if segments[0].text.strip() else _Text("", segments[0].offset)
    for marker, segment in zip(markers, segments[1:], strict=True):
        if pending.text.strip():
            messages.append({"role": ROLES_IN[role], "content": pending.text})
            starts.append(pending.offset)
            pending = _Text("", segment.offset)
        role = marker
        if segment.text.strip():  # dotpromptz drops a piece that is only whitespace
            _append(pending, segment.text, segment.offset)
    if pending.text.strip():
        messages.append({"role": ROLES_IN[role], "content": pending.text})
        starts.append(pending.offset)
    return "chat", messages, starts, body, body_line


def _append(segment: _Text, text: str, offset: int) -> None:
    """Add text to a segment (its offset is where its first non-empty text began)."""
    if not segment.text and text:
        segment.offset = offset
    segment.text += text


def _tokens(body: str, body_line: int, source: str) -> list[Part]:
    """Text and tags, as the Handlebars tokenizer cuts them."""
    parts: list[Part] = []
    i = 0
    while True:
        start = body.find("{{", i)
        if start < 0:
            if i < len(body):
                parts.append(_Text(body[i:], i))
            return parts
        line = line_of(body, start, body_line)
        slashes = 0
        while start - slashes - 1 >= i and body[start - slashes - 1] == "\\":
            slashes += 1
        if slashes == 1:  # \{{ is a literal {{: kept in our spelling
            parts.append(_Text(body[i : start + 2], i))
            i = start + 2
            continue
        if slashes >= 2:
            raise FileFormatError(
                source,
                "backslashes before an escaped '\\{{' mean something else in Handlebars; "
                "remove them",
                line,
            )
        if start > i:
            parts.append(_Text(body[i:start], i))
        if body.startswith(("{{{", "{{~{"), start):
            raise FileFormatError(
                source, "triple braces ({{{...}}}) are not supported; use {{name}}", line
            )
        if body.startswith(("{{!--", "{{~!--"), start):
            close = body.find("--", body.find("!--", start) + 3)
            while close >= 0 and not body.startswith(("--}}", "--~}}"), close):
                close = body.find("--", close + 1)
            end = -1 if close < 0 else body.find("}}", close) + 2
        else:
            end = body.find("}}", start + 2)
            end = end + 2 if end >= 0 else -1
        if end < 0:
            raise FileFormatError(source, "'{{' is never closed with '}}'", line)
        inner = body[start + 2 : end - 2]
        before, after = inner.startswith("~"), inner.endswith("~")
        inner = inner[1 if before else 0 : len(inner) - (1 if after else 0)]
        parts.append(_Tag(inner.strip(), body[start:end], before, after, start))
        i = end


def _strip_neighbours(parts: list[Part]) -> None:
    """``~`` strips the whitespace of the text beside the tag."""
    for index, part in enumerate(parts):
        if not isinstance(part, _Tag):
            continue
        if part.before and index and isinstance(parts[index - 1], _Text):
            prev = parts[index - 1]
            assert isinstance(prev, _Text)
            prev.text = prev.text.rstrip()
        if part.after and index + 1 < len(parts) and isinstance(parts[index + 1], _Text):
            nxt = parts[index + 1]
            assert isinstance(nxt, _Text)
            stripped = nxt.text.lstrip()
            nxt.offset += len(nxt.text) - len(stripped)
            nxt.text = stripped


def _drop_standalone(parts: list[Part]) -> None:
    """A comment alone on its line leaves no blank line (decided on the text before dropping)."""
    planned: list[tuple[int, int]] = []
    for index, part in enumerate(parts):
        if not isinstance(part, _Tag) or not part.body.startswith("!"):
            continue
        if not _starts_line(parts, index):
            continue
        line_end = _line_end_after(parts, index)
        if line_end is not None:
            planned.append((index, line_end))
    for index, line_end in planned:
        for cursor in range(index - 1, -1, -1):  # the indentation before it
            prev = parts[cursor]
            if not isinstance(prev, _Text):
                break
            newline = prev.text.rfind("\n")
            if newline >= 0:
                prev.text = prev.text[: newline + 1]
                break
            prev.text = ""
        if line_end:
            nxt = parts[index + 1]
            assert isinstance(nxt, _Text)
            nxt.text, nxt.offset = nxt.text[line_end:], nxt.offset + line_end


def _starts_line(parts: list[Part], index: int) -> bool:
    """Only spaces or tabs between this tag and the previous newline (or the start)."""
    for cursor in range(index - 1, -1, -1):
        part = parts[cursor]
        if not isinstance(part, _Text):
            return False
        newline = part.text.rfind("\n")
        if newline >= 0:
            return not part.text[newline + 1 :].strip(" \t")
        if part.text.strip(" \t"):
            return False
    return True


def _line_end_after(parts: list[Part], index: int) -> int | None:
    """How much of the following text goes with a standalone tag, or ``None``."""
    if index + 1 >= len(parts):
        return 0
    nxt = parts[index + 1]
    if not isinstance(nxt, _Text):
        return None
    text = nxt.text
    cursor = 0
    while cursor < len(text) and text[cursor] in " \t":
        cursor += 1
    if cursor == len(text):
        return cursor
    if text.startswith("\r\n", cursor):
        return cursor + 2
    if text.startswith("\n", cursor):
        return cursor + 1
    return None


def _check_tag(tag: _Tag, source: str, line: int) -> None:
    """Refuse every Handlebars construct other than a placeholder or a pinned include."""
    if tag.body[:1] in ("#", "/", "^") or tag.body == "else" or tag.body.startswith("else "):
        raise FileFormatError(source, f"{tag.raw} is a Handlebars block; {LOGICLESS}", line)
    if tag.before or tag.after:
        raise FileFormatError(
            source, f"{tag.raw}: whitespace control (~) is supported on role markers only", line
        )
    if tag.body.startswith(">") and not _INCLUDE.fullmatch(tag.body):
        raise FileFormatError(
            source, f"{tag.raw}: a partial must pin a version, e.g. {{{{> shared.tone@3}}}}", line
        )
    if not _VAR.fullmatch(tag.body) and not _INCLUDE.fullmatch(tag.body):
        raise FileFormatError(
            source, f"{tag.raw} is a Handlebars helper or expression; {LOGICLESS}", line
        )
