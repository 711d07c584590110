"""What changed between two versions: a unified diff of the template, per-field config changes."""

from __future__ import annotations

import difflib
import json
from typing import Any

from .models import Version

_MISSING = object()


def _template_text(version: Version) -> list[str]:
    if version.type == "text":
        # Every line ends with a newline, the last one too: "-a" and "+b" stay two lines.
        return [
            line if line.endswith("\n") else line + "\n"
            for line in str(version.template).splitlines(keepends=True)
        ]
    lines: list[str] = []
    for message in version.template:
        lines.append(f"[{message['role']}]\n")
        lines.extend(
            line if line.endswith("\n") else line + "\n" for line in message["content"].splitlines()
        )
    return lines


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key in value:
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(t, dict) and "name" in t for t in value)
    ):
        for item in value:  # tools are compared by name, not by position
            _flatten(
                {k: v for k, v in item.items() if k != "name"}, f"{prefix}[{item['name']}]", out
            )
    else:
        out[prefix] = value


def diff_versions(old: Version, new: Version) -> dict[str, Any]:
    """Template as a unified diff, variables and config as ``[{field, from, to}]``."""
    template = "".join(
        difflib.unified_diff(
            _template_text(old),
            _template_text(new),
            fromfile=f"{old.prompt}@{old.number}",
            tofile=f"{new.prompt}@{new.number}",
        )
    )
    changes: dict[str, list[dict[str, Any]]] = {}
    for name, a, b in (
        ("config", old.config, new.config),
        ("variables", {v["name"]: v for v in old.variables}, {v["name"]: v for v in new.variables}),
    ):
        fa: dict[str, Any] = {}
        fb: dict[str, Any] = {}
        _flatten(a, "", fa)
        _flatten(b, "", fb)
        rows = []
        for key in sorted(set(fa) | set(fb)):
            va, vb = fa.get(key, _MISSING), fb.get(key, _MISSING)
            if json.dumps(va, sort_keys=True, default=str) != json.dumps(
                vb, sort_keys=True, default=str
            ):
                rows.append(
                    {
                        "field": key,
                        "from": None if va is _MISSING else va,
                        "to": None if vb is _MISSING else vb,
                        "change": "added"
                        if va is _MISSING
                        else "removed"
                        if vb is _MISSING
                        else "changed",
                    }
                )
        changes[name] = rows
    return {
        "from": old.number,
        "to": new.number,
        "type_changed": old.type != new.type,
        "template": template,
        "variables": changes["variables"],
        "config": changes["config"],
    }
