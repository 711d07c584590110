"""How a case reaches the model: the runner's delivery contract (docs/evals.md).

Variables the version declares render into its template; the others are sent as the final
user message, so a probe reaches a prompt whose variable names it cannot know. A built-in
suite's probe cannot set the version's own variables either (a ``clinic_name``): the runner
renders each required one it does not set as a visible stand-in (:func:`stand_ins`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .suite import Case


def split_vars(
    case: Case, declared: Mapping[str, Any] | list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The runner's delivery contract: ``(values for the template, leftover vars)``.

    Variables the version declares are rendered into its template; the rest are delivered by
    ``leftover_message`` as the final user message (``input`` as written, others as labelled
    blocks), so a probe reaches a prompt whose variable names it does not know.
    """
    names = set(declared)
    return (
        {k: val for k, val in case.vars.items() if k in names},
        {k: val for k, val in case.vars.items() if k not in names},
    )


def leftover_message(leftover: Mapping[str, Any]) -> str | None:
    """The final user message for the leftover vars, or ``None`` when there are none."""
    if not leftover:
        return None
    parts = []
    for key in sorted(k for k in leftover if k != "input"):
        value = leftover[key]
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"<{key}>\n{text}\n</{key}>")
    if "input" in leftover:
        value = leftover["input"]
        parts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return "\n\n".join(parts)


_STAND_IN_BY_TYPE: dict[str, Any] = {
    "number": 0,
    "integer": 0,
    "boolean": False,
    "object": {},
    "array": [],
}


def stand_ins(
    declared: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Values for the required declared variables a built-in probe does not set.

    A string (or untyped) variable renders as ``[NAME]``, so the stand-in is visible in the
    stored request; other types as their zero value. Only built-in suites get them: a project's
    own suite knows the version's variables, and a missing one is an error naming it.
    """
    return {
        name: _STAND_IN_BY_TYPE.get(str(spec.get("type")), f"[{name}]")
        for name, spec in declared.items()
        if name not in given and spec.get("required", True)
    }
