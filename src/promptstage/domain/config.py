"""The dependency snapshot a version pins: model, params, tools, retrieval, post-processing.

``parse_config`` validates user input and returns the normalized dict that enters the digest
(every key present, defaults explicit), so two spellings of the same snapshot share one digest.
``Config.from_dict`` turns that normalized dict into typed, read-only values for callers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from promptstage.errors import InvalidInputError

CONFIG_KEYS = ("model", "params", "tools", "retrieval", "postprocess", "metadata")
MAX_TOOLS = 128


@dataclass(frozen=True, slots=True)
class ModelRef:
    provider: str
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pinned:
    """A named artifact at an exact version: a retrieval index or a post-processing rule set."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class Config:
    model: ModelRef
    params: dict[str, Any]
    tools: tuple[Tool, ...]
    retrieval: Pinned | None
    postprocess: Pinned | None
    metadata: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build from a normalized config dict (as returned by ``parse_config``)."""
        model = data["model"]
        retrieval = data.get("retrieval")
        postprocess = data.get("postprocess")
        return cls(
            model=ModelRef(model["provider"], model["name"], model["version"]),
            params=dict(data.get("params") or {}),
            tools=tuple(
                Tool(t["name"], t.get("description", ""), t.get("parameters") or {})
                for t in data.get("tools") or ()
            ),
            retrieval=Pinned(retrieval["index"], retrieval["version"]) if retrieval else None,
            postprocess=Pinned(postprocess["name"], postprocess["version"])
            if postprocess
            else None,
            metadata=dict(data.get("metadata") or {}),
        )


def _text(value: Any, field: str, hint: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 256:
        raise InvalidInputError(
            f"{field} must be a non-empty string of at most 256 characters {hint}", field=field
        )
    return value


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{field} must be a JSON object", field=field)
    return value


def _finite(value: Any, field: str) -> None:
    """Reject NaN/Infinity anywhere inside ``value``: they have no canonical JSON form."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{field} must be a finite number", field=field)
    if isinstance(value, dict):
        for key, item in value.items():
            _finite(item, f"{field}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _finite(item, f"{field}[{i}]")


def _pinned(value: Any, field: str, name_key: str) -> dict[str, str] | None:
    if value is None:
        return None
    obj = _object(value, field)
    extra = set(obj) - {name_key, "version"}
    if extra:
        raise InvalidInputError(
            f"{field} has unknown keys {sorted(extra)}; it takes {name_key!r} and 'version'",
            field=field,
        )
    return {
        name_key: _text(obj.get(name_key), f"{field}.{name_key}", ""),
        "version": _text(obj.get("version"), f"{field}.version", "(pin the exact version)"),
    }


def parse_config(value: Any) -> dict[str, Any]:
    """Validate a dependency snapshot and return its normalized dict.

    Raises:
        InvalidInputError: naming the first offending field, e.g. ``config.model.version``.
    """
    obj = _object(value, "config")
    extra = set(obj) - set(CONFIG_KEYS)
    if extra:
        raise InvalidInputError(
            f"config has unknown keys {sorted(extra)}; allowed keys are {list(CONFIG_KEYS)} "
            "(put anything else under config.metadata)",
            field="config",
        )
    if "model" not in obj:
        raise InvalidInputError(
            "config.model is required: {provider, name, version}, e.g. "
            '{"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}',
            field="config.model",
        )
    model = _object(obj["model"], "config.model")
    extra = set(model) - {"provider", "name", "version"}
    if extra:
        raise InvalidInputError(
            f"config.model has unknown keys {sorted(extra)}; it takes provider, name and version",
            field="config.model",
        )
    normalized_model = {
        "provider": _text(
            model.get("provider"), "config.model.provider", "(e.g. openai, anthropic)"
        ),
        "name": _text(model.get("name"), "config.model.name", "(e.g. gpt-4o)"),
        "version": _text(
            model.get("version"),
            "config.model.version",
            "(the exact model version, e.g. 2024-08-06)",
        ),
    }
    params = _object(obj.get("params", {}), "config.params")
    _finite(params, "config.params")
    tools_in = obj.get("tools", [])
    if not isinstance(tools_in, list) or len(tools_in) > MAX_TOOLS:
        raise InvalidInputError(
            f"config.tools must be a list of at most {MAX_TOOLS} tools", field="config.tools"
        )
    tools: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(tools_in):
        field = f"config.tools[{i}]"
        tool = _object(raw, field)
        extra = set(tool) - {"name", "description", "parameters"}
        if extra:
            raise InvalidInputError(
                f"{field} has unknown keys {sorted(extra)}; a tool takes name, description and parameters",
                field=field,
            )
        name = _text(tool.get("name"), f"{field}.name", "")
        if name in seen:
            raise InvalidInputError(
                f"{field}.name {name!r} is declared twice", field=f"{field}.name"
            )
        seen.add(name)
        description = tool.get("description", "")
        if not isinstance(description, str):
            raise InvalidInputError(
                f"{field}.description must be a string", field=f"{field}.description"
            )
        parameters = _object(
            tool.get("parameters", {"type": "object", "properties": {}}), f"{field}.parameters"
        )
        _finite(parameters, f"{field}.parameters")
        tools.append({"name": name, "description": description, "parameters": parameters})
    metadata = _object(obj.get("metadata", {}), "config.metadata")
    _finite(metadata, "config.metadata")
    return {
        "model": normalized_model,
        "params": params,
        "tools": tools,
        "retrieval": _pinned(obj.get("retrieval"), "config.retrieval", "index"),
        "postprocess": _pinned(obj.get("postprocess"), "config.postprocess", "name"),
        "metadata": metadata,
    }


_SCHEMA_TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def check_tool_schemas(tools: list[dict[str, Any]]) -> None:
    """Check each tool's ``parameters`` has the shape of a JSON Schema for function calling:
    ``type`` a JSON Schema type, ``properties`` an object of schemas, ``required`` a list of
    property names. (``parse_config`` checks only that it is an object.)

    Raises:
        InvalidInputError: naming ``config.tools[i].parameters...``.
    """
    for i, tool in enumerate(tools):
        field = f"config.tools[{i}].parameters"
        schema = tool["parameters"]
        kind = schema.get("type", "object")
        if kind not in _SCHEMA_TYPES:
            raise InvalidInputError(
                f"{field}.type {kind!r} is not a JSON Schema type; use one of {list(_SCHEMA_TYPES)}",
                field=field,
            )
        properties = schema.get("properties", {})
        if not isinstance(properties, dict) or not all(
            isinstance(p, dict) for p in properties.values()
        ):
            raise InvalidInputError(
                f'{field}.properties must map each argument to a schema, e.g. {{"city": {{"type": "string"}}}}',
                field=field,
            )
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise InvalidInputError(
                f"{field}.required must be a list of property names", field=field
            )
        missing = [r for r in required if properties and r not in properties]
        if missing:
            raise InvalidInputError(
                f"{field}.required names {missing}, which are not in its properties; add them "
                "to properties or remove them from required",
                field=field,
            )
