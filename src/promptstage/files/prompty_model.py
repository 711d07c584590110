"""Prompty's model section, inputs and tools, in both file versions, to and from our config.

Prompty v1 (``model.api/configuration/parameters``, ``inputs`` as a mapping, ``sample``) is
read; Prompty v2 (``model.id/provider/apiType/options``, ``inputs`` as a list of ``kind``
properties, ``tools``) is read and written, since that is what the ``prompty`` 2 runtime reads.
Connection details (``api_key``, endpoints, ``connection``) are never imported: they are
dropped with a warning, and a secret never reaches the server.
"""

from __future__ import annotations

from typing import Any

from .spec import FileFormatError, check_unknown

# Our params (OpenAI names) <-> Prompty v2 ModelOptions fields; any other param goes to
# options.additionalProperties under its own name.
OPTION_NAMES = {
    "temperature": "temperature",
    "max_tokens": "maxOutputTokens",
    "top_p": "topP",
    "top_k": "topK",
    "frequency_penalty": "frequencyPenalty",
    "presence_penalty": "presencePenalty",
    "seed": "seed",
    "stop": "stopSequences",
    "reasoning_effort": "reasoningEffort",
}
PARAM_NAMES = {v: k for k, v in OPTION_NAMES.items()}
V1_PROVIDERS = {"openai": "openai", "azure_openai": "azure", "azure": "azure"}
V1_CONNECTION = ("azure_endpoint", "api_version", "base_url", "organization", "endpoint")
SECRET_WORDS = ("key", "secret", "token", "password", "connection_string", "credential")
KINDS_IN = {"float": "number", "number": "number", "any": None}


def is_secret(key: str) -> bool:
    """A connection field that holds a credential (api_key, apiKey, client_secret, ...)."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def model_v1(
    source: str, model: dict[str, Any], warnings: list[str]
) -> tuple[str, str, dict[str, Any]]:
    """``(provider, name, params)`` from a v1 ``model`` section."""
    check_unknown(source, "model", model, ("api", "configuration", "parameters", "response"))
    if model.get("api", "chat") not in ("chat", "completion"):
        raise FileFormatError(source, "model.api must be chat or completion")
    conf = model.get("configuration") or {}
    if not isinstance(conf, dict):
        raise FileFormatError(source, "model.configuration must be a mapping")
    kind = conf.get("type", "openai")
    if kind not in V1_PROVIDERS:
        raise FileFormatError(
            source,
            f"model.configuration.type {kind!r} is not supported; use openai or azure_openai",
        )
    name = conf.get("azure_deployment") or conf.get("name") or conf.get("model")
    if not isinstance(name, str) or not name:
        raise FileFormatError(
            source, "model.configuration needs the model: name (openai) or azure_deployment (azure)"
        )
    for key in conf:
        if key in ("type", "azure_deployment", "name", "model"):
            continue
        if is_secret(key):
            warnings.append(f"{source}: model.configuration.{key} is a secret and was not imported")
        elif key in V1_CONNECTION:
            warnings.append(f"{source}: model.configuration.{key} (connection) was not imported")
        else:
            raise FileFormatError(source, f"unknown field 'model.configuration.{key}'")
    params = model.get("parameters") or {}
    if not isinstance(params, dict):
        raise FileFormatError(source, "model.parameters must be a mapping")
    return V1_PROVIDERS[kind], name, params


def model_v2(source: str, model: Any, warnings: list[str]) -> tuple[str, str, dict[str, Any]]:
    """``(provider, name, params)`` from a v2 ``model`` section."""
    if not isinstance(model, dict):
        raise FileFormatError(source, "model must be a mapping with id and provider")
    check_unknown(source, "model", model, ("id", "provider", "apiType", "connection", "options"))
    if "connection" in model:
        secrets = [k for k in (model["connection"] or {}) if is_secret(str(k))]
        what = f" (including the secret {', '.join(secrets)})" if secrets else ""
        warnings.append(f"{source}: model.connection{what} was not imported")
    if model.get("apiType", "chat") != "chat":
        raise FileFormatError(source, "model.apiType must be chat")
    name, provider = model.get("id"), model.get("provider")
    if not isinstance(name, str) or not name or not isinstance(provider, str) or not provider:
        raise FileFormatError(source, "model needs id (e.g. gpt-4o) and provider (e.g. openai)")
    options = model.get("options") or {}
    if not isinstance(options, dict):
        raise FileFormatError(source, "model.options must be a mapping")
    params: dict[str, Any] = {}
    extra = options.get("additionalProperties") or {}
    if not isinstance(extra, dict):
        raise FileFormatError(source, "model.options.additionalProperties must be a mapping")
    for key, value in options.items():
        if key == "additionalProperties":
            continue
        if key not in PARAM_NAMES:
            raise FileFormatError(
                source,
                f"unknown field 'model.options.{key}'; put it under model.options.additionalProperties",
            )
        params[PARAM_NAMES[key]] = value
    for key, value in extra.items():
        if key in params:
            raise FileFormatError(source, f"model.options sets {key!r} twice")
        params[key] = value
    return provider, name, params


def options_of(params: dict[str, Any]) -> dict[str, Any]:
    """Our params as v2 ``model.options`` (the inverse of the reading above)."""
    options: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in params.items():
        if key in OPTION_NAMES and (key != "stop" or isinstance(value, list)):
            options[OPTION_NAMES[key]] = value
        else:
            extra[key] = value
    if extra:
        options["additionalProperties"] = extra
    return options


def inputs_in(source: str, inputs: Any, warnings: list[str]) -> list[dict[str, Any]]:
    """Declared variables from ``inputs``: a v2 list of properties or a v1/v2 mapping."""
    if isinstance(inputs, dict):
        items = [
            {"name": k, **(v if isinstance(v, dict) else {"example": v})} for k, v in inputs.items()
        ]
    elif isinstance(inputs, list) and all(isinstance(i, dict) for i in inputs):
        items = inputs
    else:
        raise FileFormatError(source, "inputs must be a list of {name, kind} or a mapping")
    out = []
    for i, item in enumerate(items):
        check_unknown(
            source,
            f"inputs[{i}]",
            item,
            ("name", "kind", "type", "description", "required", "example", "default", "sample"),
        )
        if "default" in item:
            raise FileFormatError(
                source,
                f"inputs.{item.get('name')}.default: defaults are not supported; pass "
                "the value from your code (or use example)",
            )
        if "example" in item or "sample" in item:
            warnings.append(f"{source}: inputs.{item.get('name')} example was not imported")
        kind = item.get("kind", item.get("type"))
        kind = KINDS_IN.get(kind, kind) if isinstance(kind, str) else kind
        required = item.get("required", True)
        out.append({"name": item.get("name"), "type": kind, "required": required})
    return out


def inputs_out(variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Declared variables as a v2 ``inputs`` list."""
    return [
        {"name": v["name"], "kind": v["type"] or "any", "required": v["required"]}
        for v in variables
    ]


def tools_in(source: str, tools: Any) -> list[dict[str, Any]]:
    """Our tool set from v2 function tools (parameters as a flat list of properties)."""
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise FileFormatError(source, "tools must be a list of function tools")
    out = []
    for i, tool in enumerate(tools):
        check_unknown(source, f"tools[{i}]", tool, ("name", "kind", "description", "parameters"))
        if tool.get("kind", "function") != "function":
            raise FileFormatError(source, f"tools[{i}]: only kind: function tools are supported")
        properties: dict[str, Any] = {}
        required = []
        for j, prop in enumerate(tool.get("parameters") or []):
            if not isinstance(prop, dict):
                raise FileFormatError(source, f"tools[{i}].parameters[{j}] must be a mapping")
            check_unknown(
                source,
                f"tools[{i}].parameters[{j}]",
                prop,
                ("name", "kind", "description", "required"),
            )
            kind = prop.get("kind")
            schema: dict[str, Any] = {
                "type": KINDS_IN.get(kind, kind) if isinstance(kind, str) else kind
            }
            if "description" in prop:
                schema["description"] = prop["description"]
            properties[str(prop.get("name"))] = schema
            if prop.get("required"):
                required.append(str(prop.get("name")))
        parameters: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            parameters["required"] = required
        out.append(
            {
                "name": tool.get("name"),
                "description": tool.get("description", ""),
                "parameters": parameters,
            }
        )
    return out


def tools_out(source: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our tools as v2 function tools; refused when the schema is not a flat object."""
    out = []
    for tool in tools:
        schema = tool["parameters"]
        required = schema.get("required") or []
        params = []
        for name, prop in (schema.get("properties") or {}).items():
            entry: dict[str, Any] = {
                "name": name,
                "kind": prop.get("type"),
                "required": name in required,
            }
            if "description" in prop:
                entry["description"] = prop["description"]
            params.append(entry)
        written = {
            "name": tool["name"],
            "kind": "function",
            "description": tool["description"],
            "parameters": params,
        }
        if tools_in(source, [written])[0] != tool:
            raise FileFormatError(
                source,
                f"tool {tool['name']!r} has parameters Prompty cannot carry exactly (only "
                "a flat object of typed properties); pull this prompt as Dotprompt",
            )
        out.append(written)
    return out
