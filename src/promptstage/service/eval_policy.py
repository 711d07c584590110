"""A project's evaluation policies: the gate per label and the static checks on version writes.

Both live in the project's governance settings (``ProjectSettings.gate_policy`` and
``static_policy``, normalised JSON; ``None``: the defaults). This module validates them for
``PUT .../settings``, turns them into the ``evals`` objects the gate and the static checks use,
and says what a change gives up (:func:`weakenings`), so loosening a gate is a four-eyes change
like unprotecting a label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from promptstage.domain.governance import ProjectSettings
from promptstage.errors import InvalidInputError
from promptstage.evals.gate_policy import DEFAULT_POLICIES, GatePolicy, parse_gate_policies
from promptstage.evals.static_checks import (
    DEFAULT_SEVERITIES,
    FINDING_KINDS,
    StaticPolicy,
    parse_static_policy,
)

_RANK = {"off": 0, "warn": 1, "block": 2}
_SCOPE_RANK = {"deterministic": 0, "all": 1}  # "all" also counts judged cases: stricter


def _prefixed(exc: InvalidInputError, prefix: str) -> InvalidInputError:
    field = f"{prefix}.{exc.field}" if exc.field else prefix
    return InvalidInputError(f"{prefix}.{exc.message}", field=field)


def parse_gate_policy(data: Any) -> dict[str, Any] | None:
    """Validate a ``gate_policy`` body; returns its normalised JSON (``None`` stays ``None``).

    Raises:
        InvalidInputError: naming ``gate_policy.labels.LABEL.suites[i]...`` and the fix.
    """
    if data is None:
        return None
    try:
        parsed = parse_gate_policies(data)
    except InvalidInputError as exc:
        raise _prefixed(exc, "gate_policy") from None
    return gate_policy_json(parsed)


def parse_static(data: Any) -> dict[str, str] | None:
    """Validate a ``static_policy`` body ``{kind: block|warn|off}``; returns every kind's
    severity (``None`` stays ``None``).

    Raises:
        InvalidInputError: naming ``static_policy.KIND`` and the fix.
    """
    if data is None:
        return None
    if not isinstance(data, dict):
        raise InvalidInputError(
            "static_policy must be a mapping of check kind to block, warn or off, "
            f"with kinds among {list(FINDING_KINDS)}",
            field="static_policy",
        )
    try:
        policy = parse_static_policy(data)
    except InvalidInputError as exc:
        raise _prefixed(exc, "static_policy") from None
    return {kind: policy.severity(kind) for kind in FINDING_KINDS}


def gate_policy_json(policies: Mapping[str, GatePolicy]) -> dict[str, Any]:
    """The normalised JSON of ``policies`` (every default spelled out, labels sorted)."""
    return {
        "labels": {
            label: {
                "suites": [
                    {"suite": r.suite, "min_pass_rate": r.min_pass_rate, "scope": r.scope}
                    for r in policies[label].requirements
                ]
            }
            for label in sorted(policies)
        }
    }


def gate_policies(settings: ProjectSettings) -> Mapping[str, GatePolicy]:
    """The gate in force: the project's policy per label, or ``DEFAULT_POLICIES``."""
    if settings.gate_policy is None:
        return DEFAULT_POLICIES
    return parse_gate_policies(settings.gate_policy)


def static_policy(settings: ProjectSettings) -> StaticPolicy:
    """The static check severities in force (the defaults for kinds not named)."""
    if settings.static_policy is None:
        return StaticPolicy()
    return parse_static_policy(settings.static_policy)


def gated_labels(settings: ProjectSettings) -> list[str]:
    """The labels with at least one required suite, sorted."""
    return sorted(label for label, p in gate_policies(settings).items() if p.requirements)


def weakenings(before: ProjectSettings, after: ProjectSettings) -> list[str]:
    """What ``after`` gives up of ``before``'s gate and static checks, one phrase each.

    Weaker: a gated label no longer gated, a required suite removed, a lower pass rate, a
    narrower scope (``all`` to ``deterministic``), a static check kind moved down from
    ``block`` to ``warn`` or ``off`` (or from ``warn`` to ``off``).
    """
    found: list[str] = []
    old, new = gate_policies(before), gate_policies(after)
    for label in sorted(old):
        had = {r.suite: r for r in old[label].requirements}
        has = {r.suite: r for r in new[label].requirements} if label in new else {}
        if had and not has:
            found.append(f"label {label} no longer gated")
            continue
        for suite, req in sorted(had.items()):
            now = has.get(suite)
            if now is None:
                found.append(f"gate of {label}: suite {suite} no longer required")
            elif now.min_pass_rate < req.min_pass_rate:
                found.append(
                    f"gate of {label}: suite {suite} pass rate lowered "
                    f"{req.min_pass_rate:.0%} -> {now.min_pass_rate:.0%}"
                )
            elif _SCOPE_RANK[now.scope] < _SCOPE_RANK[req.scope]:
                found.append(f"gate of {label}: suite {suite} scope narrowed to {now.scope}")
    was, will = static_policy(before), static_policy(after)
    for kind in DEFAULT_SEVERITIES:
        if _RANK[will.severity(kind)] < _RANK[was.severity(kind)]:
            found.append(f"static check {kind}: {was.severity(kind)} -> {will.severity(kind)}")
    return found
