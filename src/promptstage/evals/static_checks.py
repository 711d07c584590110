"""Static checks on a version before it is stored (pure): what it must not carry.

``findings(version_fields, policy)`` looks at the template (every message of a chat template),
the declared variables and the config (the dependency snapshot), and reports:

- ``secret``: a credential in the template or the config (detect-secrets plugins in memory plus
  API-key shapes, ``secrets_scan``). OWASP LLM07: a system prompt is not a vault.
- ``pii``: a validated card, IBAN, SSN, e-mail or phone number in the template (few-shot
  examples are where real customer data slips in).
- ``invisible`` / ``bidi`` / ``zero-width``: Unicode tag characters, bidi controls, zero-width
  characters anywhere in the template or config.
- ``undeclared-variable`` / ``unused-variable``: a placeholder with no declaration, or a
  declaration no template (nor included template) uses.
- ``invalid-tool-schema``: a tool whose ``parameters`` is not a valid JSON Schema (2020-12).

Each finding names the field, the offset (and line and column) and the fix; the policy maps
each kind to ``block``, ``warn`` or ``off`` (default: secrets and invisible or bidi characters
block, the rest warn). The caller rejects the write (422) when any finding blocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from promptstage.domain.template import Var, parse
from promptstage.errors import TemplateError

from .pii import find_pii
from .results import redact
from .secrets_scan import find_secrets
from .smuggling import find_smuggling

SEVERITIES = ("block", "warn", "off")
FINDING_KINDS = (
    "secret", "pii", "invisible", "bidi", "zero-width", "undeclared-variable",
    "unused-variable", "invalid-tool-schema", "template-syntax",
)  # fmt: skip
DEFAULT_SEVERITIES: Mapping[str, str] = {
    "secret": "block",
    "invisible": "block",
    "bidi": "block",
    "template-syntax": "block",
    "pii": "warn",
    "zero-width": "warn",
    "undeclared-variable": "warn",
    "unused-variable": "warn",
    "invalid-tool-schema": "warn",
}
_SMUGGLING_KIND = {"tag": "invisible", "bidi": "bidi", "zero-width": "zero-width"}


@dataclass(frozen=True, slots=True)
class StaticPolicy:
    """Severity per finding kind; kinds not named keep their default."""

    severities: Mapping[str, str] = field(default_factory=dict)

    def severity(self, kind: str) -> str:
        return self.severities.get(kind, DEFAULT_SEVERITIES[kind])


DEFAULT_STATIC_POLICY = StaticPolicy()


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    severity: str
    field: str
    offset: int | None
    line: int | None
    column: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "severity": self.severity, "field": self.field,
            "offset": self.offset, "line": self.line, "column": self.column,
            "message": self.message,
        }  # fmt: skip


def parse_static_policy(data: Mapping[str, Any]) -> StaticPolicy:
    """``{kind: block|warn|off}``; unknown kinds or severities raise naming the key."""
    from . import validation as v

    for kind, severity in data.items():
        if kind not in FINDING_KINDS:
            raise v.invalid(kind, "is not a static check", f"use one of {list(FINDING_KINDS)}")
        if severity not in SEVERITIES:
            raise v.invalid(
                kind, f"{severity!r} is not a severity", f"use one of {list(SEVERITIES)}"
            )
    return StaticPolicy(dict(data))


def blocking(found: list[Finding]) -> list[Finding]:
    """The findings that block the write."""
    return [f for f in found if f.severity == "block"]


def _template_texts(type_: str, template: Any) -> Iterator[tuple[str, str]]:
    if isinstance(template, str):
        yield "template", template
    elif isinstance(template, list):
        for i, message in enumerate(template):
            if isinstance(message, Mapping) and isinstance(message.get("content"), str):
                yield f"template[{i}].content", message["content"]


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Collector:
    def __init__(self, policy: StaticPolicy) -> None:
        self.policy = policy
        self.out: list[Finding] = []

    def add(
        self, kind: str, where: str, text: str | None, offset: int | None, message: str
    ) -> None:
        severity = self.policy.severity(kind)
        if severity == "off":
            return
        line = col = None
        if text is not None and offset is not None:
            line, col = _line_col(text, offset)
        self.out.append(Finding(kind, severity, where, offset, line, col, message))


def _scan_text(c: _Collector, where: str, text: str, *, pii: bool) -> None:
    try:
        for s in find_secrets(text):
            c.add(
                "secret",
                where,
                text,
                s.start,
                f"{s.kind} ({redact(s.value)}) at offset {s.start}: remove it from the prompt and pass it to your application from a secret store; rotate it, it has been seen",
            )
    except Exception as exc:  # fail closed: a scanner that fails blocks like a secret
        c.add(
            "secret",
            where,
            None,
            None,
            f"the secret scanner failed ({type(exc).__name__}); the text could not be cleared: retry, or report this",
        )
    for run in find_smuggling(text, zero_width=True):
        kind = _SMUGGLING_KIND[run.kind]
        spelled = f" spelling {run.decoded[:40]!r}" if run.decoded else ""
        c.add(
            kind,
            where,
            text,
            run.start,
            f"{run.end - run.start} {run.kind} character(s){spelled} at offset {run.start}: delete them (they are invisible to reviewers)",
        )
    if pii:
        for m in find_pii(text):
            c.add(
                "pii",
                where,
                text,
                m.start,
                f"{m.kind} {redact(m.value)} at offset {m.start}: replace it with a variable or an obviously fake value (real customer data must not sit in a prompt)",
            )


def _declared(variables: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, item in enumerate(variables or []):
        name = (
            item
            if isinstance(item, str)
            else item.get("name")
            if isinstance(item, Mapping)
            else None
        )
        if isinstance(name, str):
            out.setdefault(name, i)
    return out


def _check_variables(c: _Collector, fields: Mapping[str, Any]) -> None:
    used: dict[str, tuple[str, str, int]] = {}
    sources = list(_template_texts(fields.get("type", "text"), fields.get("template")))
    includes = fields.get("includes") or {}
    sources += [(f"includes.{k}", t) for k, t in includes.items() if isinstance(t, str)]
    for where, text in sources:
        try:
            segments = parse(text, where)
        except TemplateError as exc:
            c.add("template-syntax", where, None, None, exc.message)
            continue
        for seg in segments:
            if isinstance(seg, Var) and seg.name not in used:
                found = re.search(r"\{\{\s*" + re.escape(seg.name) + r"\s*\}\}", text)
                used[seg.name] = (where, text, found.start() if found else 0)
    declared = _declared(fields.get("variables"))
    for name, (where, text, at) in sorted(used.items()):
        if name not in declared:
            c.add(
                "undeclared-variable",
                where,
                text,
                at,
                f"{{{{ {name} }}}} is used but not declared: add {{name: {name}}} to variables",
            )
    for name, i in sorted(declared.items()):
        if name not in used:
            c.add(
                "unused-variable",
                f"variables[{i}]",
                None,
                None,
                f"variable {name!r} is declared but no template uses it: remove it or use {{{{ {name} }}}}",
            )


def _check_tools(c: _Collector, config: Mapping[str, Any]) -> None:
    for i, tool in enumerate(config.get("tools") or []):
        if not isinstance(tool, Mapping):
            continue
        schema = tool.get("parameters")
        if schema is None:
            continue
        where = f"config.tools[{i}].parameters"
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            at = "/".join(str(p) for p in exc.path) or "(root)"
            c.add(
                "invalid-tool-schema",
                where,
                None,
                None,
                f"not a valid JSON Schema (2020-12) at {at}: {exc.message[:200]}; fix the schema so tool arguments can be checked",
            )


def findings(
    version_fields: Mapping[str, Any], policy: StaticPolicy = DEFAULT_STATIC_POLICY
) -> list[Finding]:
    """Every finding on a version about to be written.

    Args:
        version_fields: ``{type, template, variables, config}`` and optionally ``includes``
            (``name@N`` -> template text of the included versions, for variable use).
        policy: severity per kind.
    """
    c = _Collector(policy)
    for where, text in _template_texts(
        version_fields.get("type", "text"), version_fields.get("template")
    ):
        _scan_text(c, where, text, pii=True)
    config = version_fields.get("config") or {}
    for where, text in _strings(config, "config"):
        _scan_text(c, where, text, pii=False)
    _check_variables(c, version_fields)
    if isinstance(config, Mapping):
        _check_tools(c, config)
    return c.out
