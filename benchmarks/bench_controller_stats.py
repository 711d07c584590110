"""Cost of the release controller's statistics per look (SPEC §7), beside a dict lookup.

One look of one release is: build the per-arm summaries from SQL sums, run the sample-ratio
check, evaluate the guardrails and pick the ramp step. This prints the median µs per look for 1,
3 and 10 guardrails, so the controller's cadence (default every 60 s) can be checked against the
number of running releases::

    .venv/bin/python benchmarks/bench_controller_stats.py
    .venv/bin/python benchmarks/bench_controller_stats.py --repeat 11 --number 20000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

from promptstage.rollout.analysis.statistics import (
    DEFAULT_RAMP_BPS,
    ArmStats,
    CallStats,
    Guardrail,
    MetricStats,
    evaluate,
    next_step,
    sample_ratio,
)

SUMS = {
    "error_rate": ((1200, 26.0, 26.0), (1180, 25.0, 25.0)),
    "thumbs_down": ((900, 95.0, 95.0), (910, 92.0, 92.0)),
    "csat": ((400, 1604.0, 6900.0), (410, 1640.0, 7050.0)),
}


def look(guardrails: list[Guardrail]) -> str:
    stats = {
        name: MetricStats(
            ArmStats.from_sums(*canary),
            ArmStats.from_sums(*control),
            CallStats(3600, canary[1] / canary[0]),
        )
        for name, (canary, control) in SUMS.items()
    }
    result = evaluate(guardrails, stats, srm=sample_ratio(1200, 1180))
    return next_step(DEFAULT_RAMP_BPS, 1, 7200.0, 3600.0, result).action


def guardrails(k: int) -> list[Guardrail]:
    base = [
        Guardrail("error_rate", "increase", fast_threshold=0.2),
        Guardrail("thumbs_down", "increase"),
        Guardrail("csat", "decrease", tolerance=0.1),
    ]
    return [base[i % 3] for i in range(k)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=5000)
    args = parser.parse_args()
    print(c.machine())
    table = {"dict lookup": ("d['k']", {"d": {"k": 1}})}
    for k in (1, 3, 10):
        table[f"look, {k} guardrail(s)"] = ("look(g)", {"look": look, "g": guardrails(k)})
    rows = []
    baseline = None
    for name, (stmt, env) in table.items():
        runs = timeit.repeat(stmt, globals=env, repeat=args.repeat, number=args.number)
        per_op = [run / args.number * 1e6 for run in runs]
        med = statistics.median(per_op)
        baseline = baseline or med
        rows.append([name, c.fmt(med), c.spread(per_op), c.fmt(med / baseline)])
    c.print_table(
        "Controller statistics per look (µs, median of repeats)",
        ["case", "µs/look", "spread", "x dict lookup"],
        rows,
    )


if __name__ == "__main__":
    main()
