"""The Langfuse public prompt API in promptstage terms: keys, labels, config and prompt bodies.

Pure mappings, both ways, so that the facade (``api/compat/langfuse.py``) and the importer
(``cli/import_langfuse.py``) agree; ``docs/langfuse.md`` documents each field.

* **Keys**: a promptstage key ``ps_<prefix>_<secret>`` is presented to Langfuse clients as the
  pair ``pk-lf-<prefix>`` / ``sk-lf-<secret>`` (HTTP Basic). Nothing new is stored: the pair
  *is* the key, checked by the same hash, role, expiry and revocation.
* **Labels**: Langfuse's ``production`` is promptstage's production label (``prod`` by
  default); ``latest`` is the implicit highest version on both sides.
* **Config**: Langfuse's free-form ``config`` maps onto our dependency snapshot where a field
  has a meaning (``model``, ``temperature``, ``tools``, ...); the rest is kept verbatim in
  ``config.metadata.langfuse.config`` and merged back when presented, so a round trip is exact.
* **Chat placeholders** (``{"type": "placeholder", "name": ...}``) have no place in our
  messages: they are kept with their positions in ``config.metadata.langfuse.placeholders``
  and put back in place when presented.
"""

from __future__ import annotations

import re
from typing import Any

from promptstage.domain.models import Version
from promptstage.errors import InvalidInputError

PUBLIC_PREFIX = "pk-lf-"
SECRET_PREFIX = "sk-lf-"
PRODUCTION = "production"
LATEST = "latest"
# The keys of a Langfuse config that go into config.params unchanged.
PARAM_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "response_format",
    "reasoning_effort",
    "tool_choice",
    "parallel_tool_calls",
)
UNPINNED = "unpinned"
UNKNOWN_MODEL = {"provider": "unknown", "name": "unspecified", "version": UNPINNED}
_DATED = re.compile(r".*-(\d{4}-\d{2}-\d{2}|\d{8})")
_PROVIDERS = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("claude", "anthropic"),
    ("gemini", "google"),
    ("mistral", "mistral"),
    ("command", "cohere"),
    ("llama", "meta"),
)


# -- keys -----------------------------------------------------------------------------------------
def key_pair(token: str) -> tuple[str, str]:
    """The Langfuse ``(public_key, secret_key)`` of a promptstage key token."""
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != "ps" or not parts[1] or not parts[2]:
        raise InvalidInputError("not a promptstage key: expected ps_<prefix>_<secret>", field="key")
    return f"{PUBLIC_PREFIX}{parts[1]}", f"{SECRET_PREFIX}{parts[2]}"


def token_of_pair(public_key: str, secret_key: str) -> str | None:
    """The promptstage key token a Langfuse pair stands for, or ``None`` if it is not one."""
    if not (public_key.startswith(PUBLIC_PREFIX) and secret_key.startswith(SECRET_PREFIX)):
        return None
    prefix, secret = public_key[len(PUBLIC_PREFIX) :], secret_key[len(SECRET_PREFIX) :]
    if not prefix or not secret or "_" in prefix or "_" in secret:
        return None
    return f"ps_{prefix}_{secret}"


# -- labels ---------------------------------------------------------------------------------------
def label_in(label: str, production: str) -> str:
    """A Langfuse label as promptstage calls it."""
    return production if label == PRODUCTION else label


def label_out(label: str, production: str) -> str:
    """A promptstage label as Langfuse calls it."""
    return PRODUCTION if label == production else label


# -- config ---------------------------------------------------------------------------------------
def _provider_of(model: str) -> str:
    lowered = model.lower()
    return next((p for start, p in _PROVIDERS if lowered.startswith(start)), "unknown")


def _model_ref(config: dict[str, Any]) -> dict[str, str]:
    model = config.get("model")
    if model is None:
        return dict(UNKNOWN_MODEL)
    if not isinstance(model, str) or not model.strip():
        raise InvalidInputError(
            "config.model must be a model name such as gpt-4o or openai/gpt-4o",
            field="config.model",
        )
    provider = config.get("provider")
    name = model
    if "/" in model and provider is None:
        provider, name = model.split("/", 1)
    if provider is None:
        provider = _provider_of(name)
    if not isinstance(provider, str) or not provider.strip():
        raise InvalidInputError(
            "config.provider must be a non-empty string", field="config.provider"
        )
    version = config.get("model_version")
    if version is None:
        dated = _DATED.fullmatch(name)
        version = dated.group(1) if dated else UNPINNED
    if not isinstance(version, str) or not version.strip():
        raise InvalidInputError(
            "config.model_version must be a non-empty string", field="config.model_version"
        )
    return {"provider": provider, "name": name, "version": version}


def _tool(raw: Any, where: str) -> dict[str, Any]:
    """An OpenAI-style ``{type: function, function: {...}}`` or a bare ``{name, ...}`` tool."""
    if (
        isinstance(raw, dict)
        and raw.get("type") == "function"
        and isinstance(raw.get("function"), dict)
    ):
        raw = raw["function"]
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InvalidInputError(f"{where} must be a tool with a name", field=where)
    tool: dict[str, Any] = {"name": raw["name"], "description": raw.get("description") or ""}
    if "parameters" in raw:
        tool["parameters"] = raw["parameters"]
    return tool


_MODEL_KEYS = ("model", "provider", "model_version")


def config_in(config: Any, placeholders: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Our dependency snapshot (unvalidated: ``parse_config`` checks it) for a Langfuse config.

    ``model`` (with ``provider`` and ``model_version`` when given) becomes ``config.model``,
    the keys of :data:`PARAM_KEYS` ``config.params``, ``tools`` ``config.tools``; every other
    key, and the model's own spelling, is kept in ``config.metadata.langfuse.config``.
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise InvalidInputError("config must be a JSON object", field="config")
    tools_in = config.get("tools") or []
    if not isinstance(tools_in, list):
        raise InvalidInputError("config.tools must be a list of tools", field="config.tools")
    kept = {k: v for k, v in config.items() if k not in PARAM_KEYS and k != "tools"}
    langfuse: dict[str, Any] = {}
    if kept:
        langfuse["config"] = kept
    if placeholders:
        langfuse["placeholders"] = placeholders
    if tools_in and all(isinstance(t, dict) and t.get("type") == "function" for t in tools_in):
        langfuse["tool_style"] = "openai"
    return {
        "model": _model_ref(config),
        "params": {k: config[k] for k in PARAM_KEYS if k in config},
        "tools": [_tool(t, f"config.tools[{i}]") for i, t in enumerate(tools_in)],
        "metadata": {"langfuse": langfuse} if langfuse else {},
    }


def config_out(config: dict[str, Any]) -> dict[str, Any]:
    """The Langfuse config presenting our normalized dependency snapshot."""
    metadata = dict(config.get("metadata") or {})
    langfuse = metadata.pop("langfuse", None) or {}
    kept = dict(langfuse.get("config") or {})
    model = config.get("model") or UNKNOWN_MODEL
    out: dict[str, Any] = {}
    spelled = {k: kept.pop(k) for k in _MODEL_KEYS if k in kept}
    if spelled and _model_ref(spelled) == model:
        out.update(spelled)  # the model as the Langfuse side wrote it
    elif model != UNKNOWN_MODEL:
        out["model"] = model["name"]
        if _provider_of(model["name"]) != model["provider"]:
            out["provider"] = model["provider"]
        dated = _DATED.fullmatch(model["name"])
        if model["version"] != (dated.group(1) if dated else UNPINNED):
            out["model_version"] = model["version"]
    out.update(config.get("params") or {})
    tools = config.get("tools") or []
    if tools:
        style = langfuse.get("tool_style")
        out["tools"] = [{"type": "function", "function": t} for t in tools] if style else tools
    for key in ("retrieval", "postprocess"):
        if config.get(key):
            out[key] = config[key]
    if metadata:
        out["metadata"] = metadata
    out.update(kept)
    return out


# -- prompt bodies --------------------------------------------------------------------------------
def messages_in(prompt: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a Langfuse chat prompt into our messages and its placeholders (with positions)."""
    if not isinstance(prompt, list):
        raise InvalidInputError(
            "prompt of a chat prompt must be a list of {role, content} messages", field="prompt"
        )
    messages: list[dict[str, Any]] = []
    placeholders: list[dict[str, Any]] = []
    for i, item in enumerate(prompt):
        where = f"prompt[{i}]"
        if not isinstance(item, dict):
            raise InvalidInputError(f"{where} must be a message object", field=where)
        if item.get("type") == "placeholder":
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidInputError(f"{where}.name must name the placeholder", field=where)
            placeholders.append({"index": i, "name": name})
            continue
        extra = set(item) - {"role", "content", "type"}
        if extra or item.get("type") not in (None, "chatmessage"):
            raise InvalidInputError(
                f"{where} must be {{role, content}} (type 'chatmessage' optional) or "
                f"{{type: 'placeholder', name}}",
                field=where,
            )
        messages.append({"role": item.get("role"), "content": item.get("content")})
    if not messages:
        raise InvalidInputError(
            "a chat prompt needs at least one message besides its placeholders", field="prompt"
        )
    return messages, placeholders


def messages_out(template: list[dict[str, str]], config: dict[str, Any]) -> list[dict[str, Any]]:
    """Our messages with the stored placeholders put back in their places."""
    langfuse = (config.get("metadata") or {}).get("langfuse") or {}
    out: list[dict[str, Any]] = [{"type": "chatmessage", **m} for m in template]
    for placeholder in langfuse.get("placeholders") or []:
        index = min(int(placeholder["index"]), len(out))
        out.insert(index, {"type": "placeholder", "name": placeholder["name"]})
    return out


def version_labels(number: int, labels: dict[str, int], production: str) -> list[str]:
    """The Langfuse labels of version ``number``, given our ``label -> version`` (with latest)."""
    held = sorted(label_out(name, production) for name, v in labels.items() if v == number)
    return sorted(held, key=lambda name: name == LATEST)  # latest last, as Langfuse lists it


def prompt_out(
    version: Version, tags: tuple[str, ...] | list[str], labels: list[str]
) -> dict[str, Any]:
    """The Langfuse ``Prompt`` body (text or chat) of one of our versions."""
    if version.type == "chat":
        prompt: Any = messages_out(version.template, version.config)
    else:
        prompt = version.template
    return {
        "type": version.type,
        "name": version.prompt,
        "version": version.number,
        "prompt": prompt,
        "config": config_out(version.config),
        "labels": labels,
        "tags": list(tags),
        "commitMessage": version.message or None,
        "resolutionGraph": None,
    }
