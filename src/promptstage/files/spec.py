"""What a prompt file holds, the shared front matter reader, and the one error type."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

from promptstage.domain.canonical import version_digest
from promptstage.domain.config import parse_config
from promptstage.domain.template import Var, check_template, parse, parse_variables, texts
from promptstage.errors import InvalidInputError

MODEL_VERSION_HINT = "the exact model version, e.g. 2024-08-06"
_OFFSET = re.compile(r"at offset (\d+)")


class FileFormatError(ValueError):
    """A prompt file that cannot be read as promptstage reads it; names the file and line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """One version's content as a file carries it (normalized exactly as the server does)."""

    type: str
    template: Any
    variables: list[dict[str, Any]]
    config: dict[str, Any]
    description: str | None = None

    @property
    def digest(self) -> str:
        """The digest the server gives this content (the lock file compares it)."""
        return version_digest(self.type, self.template, self.variables, self.config)


@dataclass(slots=True)
class Parsed:
    """A parsed file: its content and the warnings it raised (a dropped secret, ...)."""

    spec: PromptSpec
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """The YAML mapping of a file and the body after it, with the body's first line number."""

    data: dict[str, Any]
    body: str
    body_line: int


def split_front_matter(text: str, source: str) -> FrontMatter:
    """Split ``---``-delimited YAML front matter from the body.

    Raises:
        FileFormatError: no front matter, an unclosed one, invalid YAML or not a mapping.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n").rstrip() != "---":
        raise FileFormatError(source, "the file must start with '---' front matter", 1)
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").rstrip() == "---":
            front = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise FileFormatError(source, "the front matter is never closed: add a '---' line", 1)
    try:
        data = yaml.load(front, Loader=_NoAliasLoader)  # a SafeLoader: no Python objects
    except _AliasError as exc:
        raise FileFormatError(
            source,
            "YAML anchors and aliases (&name, *name) are not supported in front matter; write "
            "the value out",
            exc.line,
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise FileFormatError(
            source, f"malformed front matter: {problem}", mark.line + 2 if mark else 1
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FileFormatError(source, "the front matter must be a YAML mapping (key: value)", 2)
    return FrontMatter(_plain(data), body, index + 2)


class _AliasError(Exception):
    """An alias in front matter (which could expand exponentially: "billion laughs")."""

    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses aliases, so a small file cannot expand into a huge one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = cast(Any, self).peek_event()  # untyped in the stubs
            raise _AliasError(event.start_mark.line + 2)
        return super().compose_node(parent, index)


def _plain(value: Any) -> Any:
    """YAML dates (an unquoted ``2024-08-06``) as the ISO strings the user meant."""
    if isinstance(value, dict):
        return {str(k) if isinstance(k, dt.date) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def dump_yaml(data: dict[str, Any]) -> str:
    """Front matter YAML in a stable order (the keys as given), unicode kept where PyYAML
    reads it back (it writes U+0085 and U+2028 raw, then reads them as line breaks)."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    if yaml.safe_load(text) != data:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=False, width=100)
    return text


def check_unknown(source: str, where: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Refuse keys we do not know (so nothing is silently dropped)."""
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise FileFormatError(
            source,
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in "
            f"{where}; allowed: {', '.join(allowed)}",
        )


def check_name(source: str, data: dict[str, Any], name: str) -> None:
    """Refuse a front-matter ``name`` other than the prompt the file's path names."""
    if "name" in data and data["name"] != name:
        raise FileFormatError(
            source,
            f"the front matter says name {data['name']!r} but the file is {name!r}: the file's "
            "path names the prompt; rename the file back or remove 'name'",
        )


def line_of(body: str, offset: int, body_line: int) -> int:
    """The file line of ``offset`` in the body."""
    return body_line + body.count("\n", 0, offset)


def build_spec(
    source: str,
    type_: str,
    template: Any,
    variables: list[dict[str, Any]] | None,
    config: dict[str, Any],
    description: str | None,
    starts: list[int],
    body: str,
    body_line: int,
) -> PromptSpec:
    """Validate and normalize with the server's own rules; errors name the file and line.

    ``starts`` holds the body offset where each template string begins (for line numbers).
    """
    try:
        normalized = check_template(type_, template)
    except InvalidInputError as exc:
        raise _located(source, str(exc), exc.field, starts, body, body_line) from None
    if variables is None:
        names: set[str] = set()
        for text, where in texts(type_, normalized):
            names.update(s.name for s in parse(text, where) if isinstance(s, Var))
        variables = [{"name": n, "type": None, "required": True} for n in sorted(names)]
    try:
        declared = parse_variables(variables, "input schema")
        normalized_config = parse_config(config)
    except InvalidInputError as exc:
        raise FileFormatError(source, str(exc)) from None
    return PromptSpec(type_, normalized, declared, normalized_config, description)


def _located(
    source: str, message: str, field_: str | None, starts: list[int], body: str, body_line: int
) -> FileFormatError:
    """A template error with the file line its offset points at."""
    index = 0
    found = re.search(r"\[(\d+)\]", field_ or "")
    if found:
        index = int(found.group(1))
    offset = _OFFSET.search(message)
    if offset and index < len(starts):
        at = starts[index] + int(offset.group(1))
        return FileFormatError(source, message, line_of(body, at, body_line))
    return FileFormatError(source, message)


def model_parts(source: str, model: Any, where: str) -> tuple[str, str]:
    """``provider/name`` split at the first ``/``."""
    if not isinstance(model, str) or "/" not in model.strip("/"):
        raise FileFormatError(
            source, f"{where} must be 'provider/name' (e.g. openai/gpt-4o), not {model!r}"
        )
    provider, _, name = model.partition("/")
    return provider, name


def model_version(source: str, value: Any, where: str) -> str:
    """The pinned model version, required by the dependency snapshot."""
    if value is None:
        raise FileFormatError(
            source, f"{where} is missing: promptstage pins {MODEL_VERSION_HINT}; add it"
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise FileFormatError(source, f"{where} must be a string ({MODEL_VERSION_HINT})")
    return value
