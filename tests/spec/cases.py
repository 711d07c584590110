"""Load the shared resolution cases (tests/spec/resolution_cases.json).

Every resolver (``promptstage.rollout.resolve``, the server endpoint, the SDK client) runs the
same cases; each runner imports these helpers::

    from .cases import load_buckets, load_cases

    @pytest.mark.parametrize("case", load_cases(), ids=lambda case: case["name"])
    def test_case(case): ...
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("resolution_cases.json")


@cache
def _document() -> dict[str, Any]:
    with CASES_FILE.open(encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


def load_cases() -> list[dict[str, Any]]:
    """Every resolution case: name, label_version, release, unit, context, expect (+ note)."""
    return [dict(case) for case in _document()["cases"]]


def load_buckets() -> list[dict[str, Any]]:
    """Every pinned bucket: salt, unit, bucket."""
    return [dict(item) for item in _document()["buckets"]]
