"""The hints a not-found error carries, so a typo is one glance from its fix: the names that
exist and the closest ones ("did you mean")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .names import LATEST

__all__ = ["did_you_mean", "label_not_found_message"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` for the closest of ``candidates`` to ``name``, else ``""``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def label_not_found_message(
    prompt: str, label: str, labels: Iterable[str], has_latest: bool, what: str = ""
) -> str:
    """``prompt 'p' has no label 'prdo'<what> (its labels: latest, prod); did you mean prod?``"""
    existing = set(labels) | ({LATEST} if has_latest else set())
    shown = ", ".join(sorted(existing)) or "none"
    return (
        f"prompt {prompt!r} has no label {label!r}{what} (its labels: {shown})"
        f"{did_you_mean(label, existing)}"
    )
