"""Benchmark the resolution hot path (SPEC §11: SDK ``get`` <= 0.5 µs / <= 1 µs with a release).

Prints the median ns/op of repeated ``timeit`` runs for each scenario beside a plain dict lookup
measured in the same run, and the ratio to it::

    .venv/bin/python benchmarks/bench_resolve.py                 # 7 repeats in this process
    .venv/bin/python benchmarks/bench_resolve.py --fresh         # each repeat in a fresh process
    .venv/bin/python benchmarks/bench_resolve.py --repeat 11 --number 500000
"""

from __future__ import annotations

import sys
import timeit
from pathlib import Path
from typing import Any

try:
    from promptstage.rollout import ActiveRelease, resolve
except ModuleNotFoundError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from promptstage.rollout import ActiveRelease, resolve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import microbench_main

BASELINE = "dict lookup"


def _release(targeting: dict[str, Any] | None) -> ActiveRelease:
    return ActiveRelease.from_dict(
        {
            "id": "rel_bench",
            "prompt": "booking.system",
            "label": "production",
            "baseline_version": 3,
            "candidate_version": 4,
            "weight_bps": 2500,
            "salt": "9c1f4e2a7b3d5e6f",
            "hash_version": 1,
            "targeting": targeting,
            "state": "running",
        }
    )


TWO_RULES = {
    "combinator": "and",
    "rules": [
        {"field": "country", "operator": "in", "value": ["FR", "BE", "DE"]},
        {"field": "seats", "operator": ">=", "value": 10},
    ],
}


def scenarios() -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (statement, globals). The first is the baseline."""
    context = {"country": "FR", "seats": "25"}
    common = {"resolve": resolve, "context": context}
    return {
        BASELINE: (
            "cache[key]",
            {"cache": {"booking.system/production": 3}, "key": "booking.system/production"},
        ),
        "resolve, no release": ('resolve(3, None, "user-42", context)', common),
        "resolve, release, no rules": (
            'resolve(3, release, "user-42", context)',
            {**common, "release": _release(None)},
        ),
        "resolve, release + 2 rules": (
            'resolve(3, release, "user-42", context)',
            {**common, "release": _release(TWO_RULES)},
        ),
        "resolve, release + 2 rules, no match": (
            'resolve(3, release, "user-42", other)',
            {**common, "release": _release(TWO_RULES), "other": {"country": "US"}},
        ),
    }


def measure_once(number: int) -> dict[str, float]:
    """One timeit pass per scenario, in ns/op."""
    return {
        name: timeit.Timer(stmt, globals=env).timeit(number) / number * 1e9
        for name, (stmt, env) in scenarios().items()
    }


def main(argv: list[str] | None = None) -> None:
    microbench_main(__doc__, __file__, measure_once, BASELINE, argv)


if __name__ == "__main__":
    main()
