"""Drift: what a call reports it ran on, compared with what its version pinned.

A call may report the model the provider answered with (``model``, e.g. OpenAI's
``response.model``), the retrieval index it queried (``index``, ``NAME@VERSION``) and the tools
it offered (``tools``, names). Each difference from the version's config is one
:class:`Mismatch`; the server counts them per (prompt, version, label, kind, observed).

A reported model matches the pinned ``{provider, name, version}`` when it is the version, or
the name and the version joined by ``-``, ``@`` or ``:`` (``gpt-4o-2024-08-06``,
``claude-3-5-sonnet-20241022``), optionally prefixed by ``provider/``. A bare alias equal to
the pinned name (``gpt-4o``) says nothing about the snapshot that served, so it is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

DRIFT_KINDS = ("model", "index", "tool")


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: str  # model | index | tool
    expected: str
    observed: str


def expected_model(model: dict[str, Any]) -> str:
    return f"{model['provider']}/{model['name']}@{model['version']}"


def model_matches(model: dict[str, Any], reported: str) -> bool:
    provider, name, version = model["provider"], model["name"], model["version"]
    seen = reported.removeprefix(f"{provider}/")
    if seen == name:
        return True  # an undated alias: not evidence either way
    return seen in {version, f"{name}-{version}", f"{name}@{version}", f"{name}:{version}"}


def mismatches(
    config: dict[str, Any], model: str | None, index: str | None, tools: list[str] | None
) -> list[Mismatch]:
    """The differences between what a call reports and the normalized ``config`` it pinned."""
    found: list[Mismatch] = []
    pinned_model = config.get("model")
    if model and pinned_model and not model_matches(pinned_model, model):
        found.append(Mismatch("model", expected_model(pinned_model), model))
    if index:
        retrieval = config.get("retrieval")
        expected = f"{retrieval['index']}@{retrieval['version']}" if retrieval else "none"
        if index != expected:
            found.append(Mismatch("index", expected, index))
    if tools:
        declared = sorted(t["name"] for t in config.get("tools") or ())
        for name in sorted(set(tools) - set(declared)):
            found.append(Mismatch("tool", ",".join(declared) or "none", name))
    return found


@dataclass(frozen=True, slots=True)
class DriftCount:
    """How many calls of (prompt, version, label) reported ``observed`` where ``expected`` was
    pinned, between ``first_at`` and ``last_at``."""

    project: str
    prompt: str
    version: int
    label: str
    kind: str
    expected: str
    observed: str
    count: int
    first_at: datetime
    last_at: datetime
