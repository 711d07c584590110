"""Eval suites: immutable, digested sets of cases, parsed strictly from YAML or TOML.

A suite is ``{name, description?, defaults?: {assertions}, judge?: {model, rubric?}, cases}``;
a case is ``{id, description?, family?, owasp?, tags?, vars?, history?, expected?,
assertions?}`` (docs/evals.md, "Suite format"). Parsing refuses unknown keys, YAML aliases and
duplicate keys, dates and other non-JSON values; every error names its path
(``cases[3].assertions[1].pattern``) and the fix. The normalized suite (defaults filled) has a
digest ``sha256:<hex>`` of its canonical JSON, like a prompt version's, so the same suite
written with other key order or spacing has the same digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from promptstage.domain.canonical import sha256_digest
from promptstage.domain.names import VARIABLE_NAME

from . import validation as v
from .assertion_specs import AssertionSpec, parse_assertion
from .suite_text import dump_yaml, load_text

MAX_CASES = 2_000
MAX_ASSERTIONS = 50
MAX_VARS = 100
MAX_VALUE_BYTES = 64 * 1024
MAX_HISTORY = 100
MAX_TEXT = 64 * 1024
SUITE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}(?:/[a-z0-9][a-z0-9._-]{0,63})?")
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
OWASP_IDS = tuple(f"LLM{n:02d}" for n in range(1, 11))
HISTORY_ROLES = ("system", "developer", "user", "assistant", "tool")
BUILTIN_PREFIX = "builtin/"

_SUITE_KEYS = ("name", "description", "defaults", "judge", "cases")
_CASE_KEYS = (
    "id",
    "description",
    "family",
    "owasp",
    "tags",
    "vars",
    "history",
    "expected",
    "assertions",
)


@dataclass(frozen=True, slots=True)
class Case:
    """One case: what the runner sends (vars, history) and what it checks (assertions)."""

    id: str
    description: str
    family: str | None
    owasp: tuple[str, ...]
    tags: tuple[str, ...]
    vars: dict[str, Any]
    history: tuple[dict[str, str], ...]
    expected: dict[str, Any]
    assertions: tuple[AssertionSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "family": self.family,
            "owasp": list(self.owasp),
            "tags": list(self.tags),
            "vars": self.vars,
            "history": [dict(m) for m in self.history],
            "expected": self.expected,
            "assertions": [a.to_dict() for a in self.assertions],
        }


@dataclass(frozen=True, slots=True)
class Suite:
    """A parsed suite. ``digest`` covers everything else (``to_dict``)."""

    name: str
    description: str
    default_assertions: tuple[AssertionSpec, ...]
    judge: dict[str, Any] | None
    cases: tuple[Case, ...]
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """The normalized suite; parsing it again gives the same suite and digest."""
        return {
            "name": self.name,
            "description": self.description,
            "defaults": {"assertions": [a.to_dict() for a in self.default_assertions]},
            "judge": self.judge,
            "cases": [c.to_dict() for c in self.cases],
        }

    def assertions_for(self, case: Case) -> tuple[AssertionSpec, ...]:
        """The suite's default assertions followed by the case's own."""
        return self.default_assertions + case.assertions

    @property
    def deterministic_case_ids(self) -> frozenset[str]:
        """Cases with at least one deterministic assertion."""
        return frozenset(
            c.id for c in self.cases if any(a.deterministic for a in self.assertions_for(c))
        )


def parse_suite(text: str, fmt: str = "yaml", *, allow_builtin: bool = False) -> Suite:
    """Parse and validate a suite file (``fmt``: ``yaml`` or ``toml``).

    Raises:
        InvalidInputError: naming the path of the first problem and its fix.
    """
    return suite_from_dict(load_text(text, fmt), allow_builtin=allow_builtin)


def _name(value: Any, allow_builtin: bool) -> str:
    name = v.text(value, "name", max_chars=129)
    if not SUITE_NAME.fullmatch(name):
        raise v.invalid(
            "name",
            f"{name!r} is not a suite name",
            "use lowercase letters, digits, '.', '_', '-' and at most one '/' (team/suite)",
        )
    if name.startswith(BUILTIN_PREFIX) and not allow_builtin:
        raise v.invalid(
            "name", f"{name!r} uses the reserved prefix 'builtin/'", "choose another name"
        )
    return name


def _judge(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    v.mapping(value, "judge", ("model", "rubric"), ("model",))
    model = v.mapping(
        value["model"],
        "judge.model",
        ("provider", "name", "version"),
        ("provider", "name", "version"),
    )
    return {
        "model": {
            k: v.text(model[k], f"judge.model.{k}", max_chars=256)
            for k in ("provider", "name", "version")
        },
        "rubric": v.text(
            value.get("rubric", ""), "judge.rubric", max_chars=MAX_TEXT, allow_empty=True
        ),
    }


def _assertions(value: Any, path: str, judge: dict[str, Any] | None) -> tuple[AssertionSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise v.invalid(path, "is not a list", "write a list of {type, ...} assertions")
    if len(value) > MAX_ASSERTIONS:
        raise v.invalid(
            path, f"has {len(value)} assertions", f"keep it to at most {MAX_ASSERTIONS}"
        )
    out = []
    for i, raw in enumerate(value):
        if isinstance(raw, dict) and raw.get("type") == "llm-judge" and judge is not None:
            raw = {
                "model": judge["model"],
                **({"rubric": judge["rubric"]} if judge["rubric"] else {}),
                **raw,
            }
        out.append(parse_assertion(raw, f"{path}[{i}]"))
    return tuple(out)


def _vars(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_VARS:
        raise v.invalid(
            path, f"is not a mapping of at most {MAX_VARS} variables", "write name: value pairs"
        )
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not VARIABLE_NAME.fullmatch(key):
            raise v.invalid(
                f"{path}.{key}",
                "is not a variable name",
                "use letters, digits and '_', starting with a letter or '_'",
            )
        out[key] = v.json_value(item, f"{path}.{key}")
        if len(json.dumps(out[key], ensure_ascii=False).encode("utf-8")) > MAX_VALUE_BYTES:
            raise v.invalid(f"{path}.{key}", "is larger than 64 KiB", "shorten the value")
    return out


def _history(value: Any, path: str) -> tuple[dict[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_HISTORY:
        raise v.invalid(
            path,
            f"is not a list of at most {MAX_HISTORY} messages",
            "write a list of {role, content}",
        )
    out = []
    for i, message in enumerate(value):
        where = f"{path}[{i}]"
        v.mapping(message, where, ("role", "content"), ("role", "content"))
        if message["role"] not in HISTORY_ROLES:
            raise v.invalid(
                f"{where}.role",
                f"{message['role']!r} is not a role",
                f"use one of {list(HISTORY_ROLES)}",
            )
        out.append(
            {
                "role": message["role"],
                "content": v.text(
                    message["content"], f"{where}.content", max_chars=MAX_TEXT, allow_empty=True
                ),
            }
        )
    return tuple(out)


def _case(raw: Any, path: str, judge: dict[str, Any] | None, has_defaults: bool) -> Case:
    v.mapping(raw, path, _CASE_KEYS, ("id",))
    case_id = v.text(raw["id"], f"{path}.id", max_chars=128)
    if not CASE_ID.fullmatch(case_id):
        raise v.invalid(
            f"{path}.id", f"{case_id!r} is not a case id", "use letters, digits, '.', '_' and '-'"
        )
    assertions = _assertions(raw.get("assertions"), f"{path}.assertions", judge)
    if not assertions and not has_defaults:
        raise v.invalid(
            f"{path}.assertions",
            "the case checks nothing",
            "add at least one assertion (or suite defaults)",
        )
    expected = raw.get("expected") or {}
    if not isinstance(expected, dict):
        raise v.invalid(
            f"{path}.expected", "is not a mapping", "write expected properties as name: value"
        )
    family = raw.get("family")
    return Case(
        id=case_id,
        description=v.text(
            raw.get("description", ""), f"{path}.description", max_chars=2000, allow_empty=True
        ),
        family=None if family is None else v.text(family, f"{path}.family", max_chars=64),
        owasp=tuple(
            v.string_list(
                raw.get("owasp", []), f"{path}.owasp", max_items=10, max_chars=5, choices=OWASP_IDS
            )
        ),
        tags=tuple(v.string_list(raw.get("tags", []), f"{path}.tags", max_items=20, max_chars=64)),
        vars=_vars(raw.get("vars"), f"{path}.vars"),
        history=_history(raw.get("history"), f"{path}.history"),
        expected=v.json_value(expected, f"{path}.expected"),
        assertions=assertions,
    )


def suite_from_dict(data: Any, *, allow_builtin: bool = False) -> Suite:
    """Validate an already-loaded suite mapping; see ``parse_suite``."""
    v.mapping(data, "", _SUITE_KEYS, ("name", "cases"))
    name = _name(data["name"], allow_builtin)
    judge = _judge(data.get("judge"))
    defaults = v.mapping(data.get("defaults") or {}, "defaults", ("assertions",))
    default_assertions = _assertions(defaults.get("assertions"), "defaults.assertions", judge)
    cases_raw = data["cases"]
    if not isinstance(cases_raw, list) or not cases_raw:
        raise v.invalid("cases", "is not a non-empty list", "add at least one case")
    if len(cases_raw) > MAX_CASES:
        raise v.invalid(
            "cases",
            f"has {len(cases_raw)} cases",
            f"keep it to at most {MAX_CASES} (split the suite)",
        )
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(cases_raw):
        case = _case(raw, f"cases[{i}]", judge, bool(default_assertions))
        if case.id in seen:
            raise v.invalid(
                f"cases[{i}].id",
                f"{case.id!r} is also the id of cases[{seen[case.id]}]",
                "give every case its own id",
            )
        seen[case.id] = i
        cases.append(case)
    description = v.text(
        data.get("description", ""), "description", max_chars=2000, allow_empty=True
    )
    body = {
        "name": name,
        "description": description,
        "defaults": {"assertions": [a.to_dict() for a in default_assertions]},
        "judge": judge,
        "cases": [c.to_dict() for c in cases],
    }
    return Suite(name, description, default_assertions, judge, tuple(cases), sha256_digest(body))


def dump_suite(suite: Suite) -> str:
    """The normalized suite as YAML; ``parse_suite(dump_suite(s)) == s``."""
    return dump_yaml(suite.to_dict())
