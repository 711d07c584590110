"""Reading the prompt files ``promptstage prompt push`` sends: TOML or JSON, checked locally.

A file names the prompt and holds one version::

    name = "booking.system"
    type = "chat"                      # or "text"
    description = "Books appointments" # optional, used when the prompt is created
    tags = ["booking"]                 # optional, idem
    template = [{ role = "system", content = "You book for {{ clinic }}." }]
    variables = [{ name = "clinic", type = "string" }]   # optional
    [config.model]
    provider = "openai"
    name = "gpt-4o"
    version = "2024-08-06"

The server validates the content (names, template syntax, config fields); this module only
checks the shape, so mistakes point at the file rather than at an HTTP request.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KNOWN_KEYS = ("name", "type", "description", "tags", "template", "variables", "config")
REQUIRED_KEYS = ("name", "type", "template", "config")
TYPES = ("text", "chat")


class PromptFileError(ValueError):
    """The file cannot be read or does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class PromptFile:
    """One prompt version as written in a file."""

    name: str
    type: str
    template: str | list[dict[str, Any]]
    config: dict[str, Any]
    variables: list[Any] | None = None
    description: str | None = None
    tags: list[str] | None = None

    def prompt_body(self) -> dict[str, Any]:
        """The ``POST /prompts`` body that creates this prompt."""
        body: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.description is not None:
            body["description"] = self.description
        if self.tags is not None:
            body["tags"] = self.tags
        return body

    def version_body(self, message: str | None) -> dict[str, Any]:
        """The ``POST /prompts/{name}/versions`` body that writes this version."""
        body: dict[str, Any] = {"template": self.template, "config": self.config}
        if self.variables is not None:
            body["variables"] = self.variables
        if message is not None:
            body["message"] = message
        return body


def load_prompt_file(path: Path) -> PromptFile:
    """Read and shape-check a ``.toml`` or ``.json`` prompt file.

    Raises:
        PromptFileError: unreadable, unparsable, or a key missing, unknown or of the wrong type;
            the message names the file and the key.
    """
    data = _parse(path)
    if not isinstance(data, dict):
        raise PromptFileError(f"{path}: expected an object with keys {', '.join(REQUIRED_KEYS)}")
    unknown = sorted(set(data) - set(KNOWN_KEYS))
    if unknown:
        raise PromptFileError(
            f"{path}: unknown keys {unknown}; allowed keys are {list(KNOWN_KEYS)}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise PromptFileError(f"{path}: missing required key {missing[0]!r}")
    if data["type"] not in TYPES:
        raise PromptFileError(f'{path}: \'type\' must be "text" or "chat", not {data["type"]!r}')
    return PromptFile(
        name=_string(path, data, "name"),
        type=str(data["type"]),
        template=_template(path, data["type"], data["template"]),
        config=_object(path, data, "config"),
        variables=_list(path, data, "variables"),
        description=_string(path, data, "description") if "description" in data else None,
        tags=_tags(path, data),
    )


def _parse(path: Path) -> Any:
    """Decode the file as TOML or JSON, by its suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise PromptFileError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .toml or .json"
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PromptFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except UnicodeDecodeError:
        raise PromptFileError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PromptFileError(f"{path}: invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PromptFileError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def _string(path: Path, data: dict[str, Any], key: str) -> str:
    """``data[key]`` as a string (non-empty for ``name``)."""
    value = data[key]
    if not isinstance(value, str) or (key == "name" and not value):
        raise PromptFileError(
            f"{path}: {key!r} must be a non-empty string"
            if key == "name"
            else f"{path}: {key!r} must be a string"
        )
    return value


def _object(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` as a table/object."""
    value = data[key]
    if not isinstance(value, dict):
        raise PromptFileError(
            f"{path}: {key!r} must be a table/object (e.g. [{key}.model] provider, name, version)"
        )
    return value


def _list(path: Path, data: dict[str, Any], key: str) -> list[Any] | None:
    """``data[key]`` as a list, or ``None`` when absent."""
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list):
        raise PromptFileError(f"{path}: {key!r} must be a list of {{name, type?, required?}}")
    return value


def _tags(path: Path, data: dict[str, Any]) -> list[str] | None:
    """``data["tags"]`` as a list of strings, or ``None`` when absent."""
    if "tags" not in data:
        return None
    value = data["tags"]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise PromptFileError(f"{path}: 'tags' must be a list of strings")
    return value


def _template(path: Path, type_: str, value: Any) -> str | list[dict[str, Any]]:
    """A text template (string) or chat template (list of role/content messages)."""
    if type_ == "text":
        if not isinstance(value, str):
            raise PromptFileError(f"{path}: a text prompt's 'template' must be a string")
        return value
    if not isinstance(value, list) or not value:
        raise PromptFileError(
            f"{path}: a chat prompt's 'template' must be a list of {{role, content}} messages"
        )
    for i, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("role"), str)
            or not isinstance(message.get("content"), str)
        ):
            raise PromptFileError(
                f"{path}: template[{i}] must have a string 'role' and a string 'content'"
            )
    return value
