"""The dependency catalog: tools, retrieval indexes, models and post-processing rule sets.

A catalog entry is immutable and identified by ``(kind, name, version)``; its digest covers
its kind, name, version and body. What a version pins is the entry's *inline form*
(:func:`inline`), the same value a version written without the catalog holds in its config,
so a reference resolved at write time gives the same digest as the inline spelling.

Spelling (docs/dependencies.md):

* a dependency, in the CLI and the API: ``KIND:NAME@VERSION`` (``index:kb@7``), or
  ``KIND:NAME`` for every version (impact queries);
* a reference inside ``config``: a one-key object naming the kind, placed where the inline
  value goes: ``"model": {"model": "openai/gpt-4o@2024-08-06"}``,
  ``"tools": [{"tool": "book_appointment@3"}]``, ``"retrieval": {"index": "kb@7"}``,
  ``"postprocess": {"ruleset": "redact-pii@2"}``.

Model names are ``PROVIDER/NAME``; the others have no ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from promptstage.errors import InvalidInputError

from .canonical import sha256_digest


class DepKind(StrEnum):
    """The kinds of catalog entry."""

    TOOL = "tool"
    INDEX = "index"
    MODEL = "model"
    RULESET = "ruleset"


KINDS = tuple(k.value for k in DepKind)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}/[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}")
_SPEC_EXAMPLE = "e.g. index:kb@7, tool:book_appointment@3 or model:openai/gpt-4o@2024-08-06"


@dataclass(frozen=True, slots=True)
class DepRef:
    """A dependency named in the CLI or API: a version, or every version (``version=None``)."""

    kind: DepKind
    name: str
    version: str | None = None

    def __str__(self) -> str:
        at = f"@{self.version}" if self.version is not None else ""
        return f"{self.kind}:{self.name}{at}"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One immutable version of a catalog entry.

    ``retires_on`` (models only) is the provider's announced retirement date; it is known late,
    so it is set after registration and is not covered by the digest.
    """

    project: str
    kind: str
    name: str
    version: str
    digest: str
    body: dict[str, Any]
    author: str
    created_at: datetime
    retires_on: date | None = None

    @property
    def ref(self) -> DepRef:
        return DepRef(DepKind(self.kind), self.name, self.version)


def check_kind(value: str, field: str = "kind") -> DepKind:
    if value not in KINDS:
        raise InvalidInputError(
            f"{field}: the kind must be one of {list(KINDS)}, got {value!r}", field=field
        )
    return DepKind(value)


def check_name(kind: DepKind, value: Any, field: str = "name") -> str:
    pattern = _MODEL_NAME if kind is DepKind.MODEL else _NAME
    if not isinstance(value, str) or not pattern.fullmatch(value):
        shape = (
            "PROVIDER/NAME, e.g. openai/gpt-4o"
            if kind is DepKind.MODEL
            else "1-128 letters, digits, '.', '_', ':' or '-', e.g. book_appointment"
        )
        raise InvalidInputError(f"{field} of a {kind} must be {shape}; got {value!r}", field=field)
    return value


def check_version(value: Any, field: str = "version") -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise InvalidInputError(
            f"{field}: the version must be 1-64 letters, digits, '.', '_', ':', '+' or '-' "
            f"(e.g. 7 or 2024-08-06); got {value!r}",
            field=field,
        )
    return value


def parse_spec(text: Any, *, versioned: bool | None = None, field: str = "dep") -> DepRef:
    """Parse ``KIND:NAME[@VERSION]``.

    Args:
        versioned: ``True``: the version is required; ``False``: refused; ``None``: optional.

    Raises:
        InvalidInputError: naming ``field`` and the expected spelling.
    """
    if not isinstance(text, str) or ":" not in text:
        raise InvalidInputError(
            f"{field} must be KIND:NAME[@VERSION] ({_SPEC_EXAMPLE}); got {text!r}", field=field
        )
    kind_text, rest = text.split(":", 1)
    kind = check_kind(kind_text, field)
    name, sep, version = rest.rpartition("@")
    if not sep:
        name, version = rest, ""
    name = check_name(kind, name, field)
    if versioned is True and not sep:
        raise InvalidInputError(f"{field} needs a version: {text}@VERSION", field=field)
    if versioned is False and sep:
        raise InvalidInputError(f"{field} takes no version: {kind}:{name}", field=field)
    return DepRef(kind, name, check_version(version, field) if sep else None)


def parse_body(kind: DepKind, raw: Any) -> dict[str, Any]:
    """Validate an entry's body by kind and return it normalized (every key present).

    * tool: ``{description, parameters}`` (``parameters`` a JSON Schema object);
    * index: ``{document_count, built_at}``, both optional;
    * model: ``{}``;
    * ruleset: ``{description}``, optional.
    """
    body = raw if raw is not None else {}
    if not isinstance(body, dict):
        raise InvalidInputError("body must be a JSON object", field="body")
    allowed = {
        DepKind.TOOL: {"description", "parameters"},
        DepKind.INDEX: {"document_count", "built_at"},
        DepKind.MODEL: set(),
        DepKind.RULESET: {"description"},
    }[kind]
    extra = set(body) - allowed
    if extra:
        raise InvalidInputError(
            f"body of a {kind} has unknown keys {sorted(extra)}; it takes {sorted(allowed)}",
            field="body",
        )
    if kind is DepKind.TOOL:
        from .config import check_tool_schemas, parse_config

        probe = {"name": "t", "description": body.get("description", "")}
        if "parameters" in body:
            probe["parameters"] = body["parameters"]
        tool = parse_config({"model": _PROBE_MODEL, "tools": [probe]})["tools"][0]
        check_tool_schemas([tool])
        return {"description": tool["description"], "parameters": tool["parameters"]}
    if kind is DepKind.INDEX:
        count = body.get("document_count")
        if count is not None and (
            not isinstance(count, int) or isinstance(count, bool) or count < 0
        ):
            raise InvalidInputError(
                "body.document_count must be a non-negative integer", field="body.document_count"
            )
        built = body.get("built_at")
        if built is not None:
            try:
                datetime.fromisoformat(str(built).replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInputError(
                    "body.built_at must be an ISO-8601 time such as 2026-12-06T02:00:00Z",
                    field="body.built_at",
                ) from None
        return {"document_count": count, "built_at": built}
    if kind is DepKind.RULESET:
        desc = body.get("description", "")
        if not isinstance(desc, str) or len(desc) > 2000:
            raise InvalidInputError(
                "body.description must be a string of at most 2000 characters",
                field="body.description",
            )
        return {"description": desc}
    return {}


_PROBE_MODEL = {"provider": "p", "name": "n", "version": "v"}


def entry_digest(kind: str, name: str, version: str, body: dict[str, Any]) -> str:
    """The digest of a catalog entry: its kind, name, version and normalized body."""
    return sha256_digest({"kind": kind, "name": name, "version": version, "body": body})


def inline(kind: str, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a version pins for this entry: the value of its slot in a normalized config."""
    if kind == DepKind.TOOL:
        return {"name": name, "description": body["description"], "parameters": body["parameters"]}
    if kind == DepKind.INDEX:
        return {"index": name, "version": version}
    if kind == DepKind.MODEL:
        provider, model = name.split("/", 1)
        return {"provider": provider, "name": model, "version": version}
    return {"name": name, "version": version}


def entry_inline(entry: CatalogEntry) -> dict[str, Any]:
    return inline(entry.kind, entry.name, entry.version, entry.body)


# references inside a config ----------------------------------------------------------------

_SLOTS = {"model": DepKind.MODEL, "retrieval": DepKind.INDEX, "postprocess": DepKind.RULESET}


def _as_ref(value: Any, kind: DepKind, field: str) -> DepRef | None:
    """The reference ``value`` spells, or ``None`` when it is an inline value."""
    if not isinstance(value, dict) or len(value) != 1 or kind.value not in value:
        return None
    text = value[kind.value]
    if not isinstance(text, str) or "@" not in text:
        if kind is DepKind.INDEX and isinstance(text, str):
            return (
                None  # {"index": "kb"} is an inline pin missing its version: parse_config says so
            )
        raise InvalidInputError(
            f'{field} is a reference and must name NAME@VERSION, e.g. {{"{kind}": '
            f'"{"openai/gpt-4o@2024-08-06" if kind is DepKind.MODEL else "kb@7"}"}}',
            field=field,
        )
    name, _, version = text.rpartition("@")
    return DepRef(kind, check_name(kind, name, field), check_version(version, field))


def references(config: Any) -> list[tuple[str, DepRef]]:
    """Every catalog reference in a raw config, with the field it sits in."""
    if not isinstance(config, dict):
        return []
    found: list[tuple[str, DepRef]] = []
    for key, kind in _SLOTS.items():
        ref = _as_ref(config.get(key), kind, f"config.{key}")
        if ref is not None:
            found.append((f"config.{key}", ref))
    tools = config.get("tools")
    if isinstance(tools, list):
        for i, item in enumerate(tools):
            ref = _as_ref(item, DepKind.TOOL, f"config.tools[{i}]")
            if ref is not None:
                found.append((f"config.tools[{i}]", ref))
    return found


def substitute(config: Any, lookup: Callable[[str, DepRef], CatalogEntry]) -> Any:
    """``config`` with each reference replaced by its entry's inline form.

    ``lookup(field, ref)`` returns the entry or raises (naming ``field``).
    """
    refs = references(config)
    if not refs:
        return config
    out = dict(config)
    if isinstance(config.get("tools"), list):
        out["tools"] = list(config["tools"])
    for field, ref in refs:
        value = entry_inline(lookup(field, ref))
        if field.startswith("config.tools["):
            out["tools"][int(field[len("config.tools[") : -1])] = value
        else:
            out[field[len("config.") :]] = value
    return out


# uses: which versions pin what --------------------------------------------------------------


def pinned(config: dict[str, Any]) -> list[tuple[DepKind, str, dict[str, Any]]]:
    """Every dependency a normalized config pins: ``(kind, name, inline value)``."""
    out: list[tuple[DepKind, str, dict[str, Any]]] = []
    model = config.get("model")
    if model:
        out.append((DepKind.MODEL, f"{model['provider']}/{model['name']}", model))
    for tool in config.get("tools") or ():
        out.append((DepKind.TOOL, tool["name"], tool))
    retrieval = config.get("retrieval")
    if retrieval:
        out.append((DepKind.INDEX, retrieval["index"], retrieval))
    post = config.get("postprocess")
    if post:
        out.append((DepKind.RULESET, post["name"], post))
    return out


def uses(config: dict[str, Any], ref: DepRef, at: dict[str, Any] | None) -> bool:
    """Whether a normalized config pins ``ref``: by name when ``at`` is ``None``, else the
    exact inline value ``at`` (the entry at ``ref.version``)."""
    return any(
        kind is ref.kind and name == ref.name and (at is None or value == at)
        for kind, name, value in pinned(config)
    )


def replace_dep(config: dict[str, Any], entry: CatalogEntry) -> dict[str, Any]:
    """``config`` with the dependency named by ``entry`` set to ``entry`` (and nothing else)."""
    value = entry_inline(entry)
    out = dict(config)
    if entry.kind == DepKind.TOOL:
        out["tools"] = [value if t["name"] == entry.name else t for t in config["tools"]]
    elif entry.kind == DepKind.MODEL:
        out["model"] = value
    elif entry.kind == DepKind.INDEX:
        out["retrieval"] = value
    else:
        out["postprocess"] = value
    return out


def pinned_version(config: dict[str, Any], kind: DepKind, name: str) -> str | None:
    """The version a config pins for ``kind:name`` (``None`` for tools: they carry none)."""
    for k, n, value in pinned(config):
        if k is kind and n == name and kind is not DepKind.TOOL:
            return str(value["version"])
    return None
