"""The editor's form: its fields as a draft (``service/drafts.py``) and back.

The form is flat so it works without JavaScript: chat messages are ``role_i``/``content_i``,
variables ``var_name_i``/``var_type_i``/``var_required_i``/``sample_i`` (``msg_count`` and
``var_count`` say how many rows there are), the config a field per part and a JSON textarea
each for the other params, the tools and the metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from promptstage.domain.models import Version
from promptstage.domain.template import CHAT_ROLES, JSON_TYPES
from promptstage.errors import InvalidInputError
from promptstage.service.drafts import Draft

MAX_ROWS = 200
KNOWN_PARAMS = ("temperature", "max_tokens")


@dataclass
class EditorForm:
    """The editor's fields as strings, as the browser sent them (or prefilled from a version)."""

    type: str
    base: int
    template: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # the single fields, by name
    message: str = ""


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


def from_version(version: Version) -> EditorForm:
    """The form prefilled from ``version``."""
    config = version.config
    params = dict(config.get("params") or {})
    known = {k: params.pop(k) for k in KNOWN_PARAMS if k in params}
    retrieval = config.get("retrieval") or {}
    post = config.get("postprocess") or {}
    model = config.get("model") or {}
    return EditorForm(
        type=version.type,
        base=version.number,
        template=version.template if version.type == "text" else "",
        messages=[dict(m) for m in version.template] if version.type != "text" else [],
        variables=[
            {
                "name": v["name"],
                "type": v.get("type") or "",
                "required": bool(v.get("required", True)),
                "sample": "",
            }
            for v in version.variables
        ],
        values={
            "model_provider": model.get("provider", ""),
            "model_name": model.get("name", ""),
            "model_version": model.get("version", ""),
            "temperature": "" if "temperature" not in known else json.dumps(known["temperature"]),
            "max_tokens": "" if "max_tokens" not in known else json.dumps(known["max_tokens"]),
            "params_json": _pretty(params),
            "tools_json": _pretty(config.get("tools") or []),
            "retrieval_index": retrieval.get("index", ""),
            "retrieval_version": retrieval.get("version", ""),
            "postprocess_name": post.get("name", ""),
            "postprocess_version": post.get("version", ""),
            "metadata_json": _pretty(config.get("metadata") or {}),
        },
    )


SINGLE = (
    "model_provider",
    "model_name",
    "model_version",
    "temperature",
    "max_tokens",
    "params_json",
    "tools_json",
    "retrieval_index",
    "retrieval_version",
    "postprocess_name",
    "postprocess_version",
    "metadata_json",
)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _count(form: FormData, name: str) -> int:
    raw = _text(form, name)
    return min(int(raw), MAX_ROWS) if raw.isdigit() else 0


def from_form(form: FormData, type_: str, base: int) -> EditorForm:
    """The form as posted (rows kept as they are, even empty: the person is editing them)."""
    messages = [
        {"role": _text(form, f"role_{i}"), "content": _text(form, f"content_{i}")}
        for i in range(_count(form, "msg_count"))
    ]
    variables = [
        {
            "name": _text(form, f"var_name_{i}").strip(),
            "type": _text(form, f"var_type_{i}"),
            "required": bool(_text(form, f"var_required_{i}")),
            "sample": _text(form, f"sample_{i}"),
        }
        for i in range(_count(form, "var_count"))
    ]
    return EditorForm(
        type=type_,
        base=base,
        template=_text(form, "template").replace("\r\n", "\n"),
        messages=[{**m, "content": m["content"].replace("\r\n", "\n")} for m in messages],
        variables=variables,
        values={name: _text(form, name) for name in SINGLE},
        message=_text(form, "message"),
    )


def _json(text: str, field: str, empty: Any, example: str) -> Any:
    if not text.strip():
        return empty
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"{field} is not valid JSON ({exc.msg} at line {exc.lineno}); write it as JSON, "
            f"e.g. {example}",
            field=field,
        ) from None


def _number(text: str, field: str) -> Any:
    value = _json(text, field, None, "0.2")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InvalidInputError(f"{field} must be a number, e.g. 0.2", field=field)
    return value


def _pinned(values: dict[str, str], name_key: str, prefix: str) -> dict[str, str] | None:
    name, version = values[f"{prefix}_{name_key}"].strip(), values[f"{prefix}_version"].strip()
    if not name and not version:
        return None
    return {name_key: name, "version": version}


def to_draft(form: EditorForm) -> Draft:
    """The draft the form describes.

    Raises:
        InvalidInputError: naming the form's JSON field that does not parse
            (``config.params``, ``config.tools``, ``config.metadata``) or a bad number.
    """
    v = form.values
    params = _json(v["params_json"], "config.params", {}, '{"top_p": 0.9}')
    if isinstance(params, dict):
        for name in KNOWN_PARAMS:
            value = _number(v[name], f"config.params.{name}")
            if value is not None:
                params[name] = value
    config: dict[str, Any] = {
        "model": {
            "provider": v["model_provider"].strip(),
            "name": v["model_name"].strip(),
            "version": v["model_version"].strip(),
        },
        "params": params,
        "tools": _json(
            v["tools_json"],
            "config.tools",
            [],
            '[{"name": "find", "description": "...", "parameters": {"type": "object"}}]',
        ),
        "metadata": _json(v["metadata_json"], "config.metadata", {}, '{"owner": "support"}'),
    }
    retrieval = _pinned(v, "index", "retrieval")
    if retrieval is not None:
        config["retrieval"] = retrieval
    post = _pinned(v, "name", "postprocess")
    if post is not None:
        config["postprocess"] = post
    rows = [r for r in form.variables if r["name"]]
    variables = (
        [{"name": r["name"], "type": r["type"] or None, "required": r["required"]} for r in rows]
        if rows
        else None
    )
    template: Any = form.template if form.type == "text" else form.messages
    return Draft(template, variables, config)


def samples(form: EditorForm) -> dict[str, str]:
    """The preview's sample values, by variable name."""
    return {r["name"]: r["sample"] for r in form.variables if r["name"]}


_INDEXED = re.compile(r"^(template|variables)\[(\d+)\](?:\.(\w+))?")
_CONFIG = {
    "config.model.provider": "model_provider",
    "config.model.name": "model_name",
    "config.model.version": "model_version",
    "config.model": "model_provider",
    "config.params.temperature": "temperature",
    "config.params.max_tokens": "max_tokens",
    "config.retrieval.index": "retrieval_index",
    "config.retrieval.version": "retrieval_version",
    "config.retrieval": "retrieval_index",
    "config.postprocess.name": "postprocess_name",
    "config.postprocess.version": "postprocess_version",
    "config.postprocess": "postprocess_name",
}
_PREFIXES = (
    ("config.params", "params_json"),
    ("config.tools", "tools_json"),
    ("config.metadata", "metadata_json"),
)


def input_of(field_path: str | None, type_: str) -> str:
    """The form input an error's ``field`` names (``variables[2].type`` -> ``var_type_2``);
    ``form`` when none does (shown at the top)."""
    path = field_path or ""
    if path in _CONFIG:
        return _CONFIG[path]
    for prefix, name in _PREFIXES:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return name
    found = _INDEXED.match(path)
    if found:
        area, index, part = found.group(1), found.group(2), found.group(3)
        if area == "template":
            return f"role_{index}" if part == "role" else f"content_{index}"
        return (
            f"var_{part or 'name'}_{index}"
            if part in (None, "name", "type")
            else f"var_required_{index}"
        )
    if path in ("template", "variables", "message"):
        return path if type_ == "text" or path != "template" else "messages"
    if path.startswith("sample."):
        return "preview"
    return "form"


CHOICES = {
    "roles": [(role, role) for role in CHAT_ROLES],
    "types": [("", "any (as a string)")] + [(t, t) for t in JSON_TYPES],
}
