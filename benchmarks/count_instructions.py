"""Instructions per call of the release path, counted by callgrind (repeatable on a noisy machine).

Timings on these shared 2-core machines move by 1.5x between runs; the number of CPU
instructions a call executes does not. This script runs each case under ``valgrind
--tool=callgrind`` twice, with the timed loop and without it, and prints the difference per
call beside a dict lookup counted the same way. The loop over the unit keys is counted alone
(a ``pass`` body) and subtracted from every case. Compare two trees by running it with
``PYTHONPATH=<tree>/src`` for each::

    .venv/bin/python benchmarks/count_instructions.py       # choose, resolve, get: 100,000 calls
    .venv/bin/python benchmarks/count_instructions.py --cases choose,get --calls 50000

Instructions are not time (a cache miss costs more than an add), so this complements the timed
benchmarks (``bench_scale.py --only sdk_get``); it does not replace them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import _common as c

UNITS = 1_000  # distinct unit keys, cycled: every call hashes a different key than the last

_RELEASE = """
from promptstage.rollout.resolve import ActiveRelease, resolve
release = ActiveRelease.from_dict({
    "id": "rel_ir", "baseline_version": 1, "candidate_version": 2, "weight_bps": 2500,
    "salt": "9c1f4e2a7b3d5e6f", "hash_version": 1,
    "targeting": {"combinator": "and", "rules": [
        {"field": "channel", "operator": "in", "value": ["whatsapp", "sms"]},
        {"field": "vertical", "operator": "=", "value": "dental"}]},
})
choose = release.chooser("canary", "control", "baseline", "unitless")
"""

_CLIENT = """
from _scale_get import NAME, _with_release
from bench_scale import make_client
ps = make_client(bootstrap=_with_release(100))
get = ps.get
assert get(NAME, "prod", "u", ctx).release_id == "rel_scale"
"""

CASES: dict[str, tuple[str, str]] = {
    # name: (set-up, the statement run once per call with `unit` bound)
    "loop": ("", "pass"),
    "dict": ("d = {'booking.system': 1}", "d['booking.system']"),
    "choose": (_RELEASE, "choose(unit, ctx)"),
    "resolve": (_RELEASE, "resolve(1, release, unit, ctx)"),
    "get": (_CLIENT, "get(NAME, 'prod', unit, ctx)"),
}

_INNER = """
import sys
sys.path.insert(0, {bench!r})
ctx = {{"channel": "whatsapp", "vertical": "dental"}}
units = [f"user-{{i}}" for i in range({units})]
{setup}
for _ in range({rounds}):
    for unit in units:
        {stmt}
"""


def count(case: str, rounds: int) -> int:
    """Instructions the interpreter executes for the case's set-up and ``rounds`` x UNITS calls."""
    setup, stmt = CASES[case]
    code = _INNER.format(
        bench=str(Path(__file__).parent), units=UNITS, setup=setup, rounds=rounds, stmt=stmt
    )
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"PYTHONHASHSEED": "0"},  # the same dict layouts in every run
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"count_instructions: case {case!r} failed under valgrind:\n{done.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", default="choose,resolve,get", help=f"any of {', '.join(CASES)}")
    parser.add_argument("--calls", type=int, default=100_000, help="calls per case (100,000)")
    args = parser.parse_args()
    cases = [name for name in args.cases.split(",") if name]
    unknown = [name for name in cases if name not in CASES]
    if unknown:
        parser.error(f"--cases: unknown case(s) {', '.join(unknown)}; cases: {', '.join(CASES)}")
    if shutil.which("valgrind") is None:
        raise SystemExit("count_instructions: valgrind is not installed (apt-get install valgrind)")
    rounds = max(1, args.calls // UNITS)
    print(c.machine())
    calls = rounds * UNITS
    loop = (count("loop", rounds) - count("loop", 0)) / calls
    per_call = {}
    for name in ["dict", *(n for n in cases if n not in ("dict", "loop"))]:
        per_call[name] = (count(name, rounds) - count(name, 0)) / calls - loop
        c.log(f"{name}: {per_call[name]:,.0f} instructions per call")
    c.print_table(
        f"instructions per call (callgrind, {calls:,} calls; set-up and the loop ({loop:,.0f} "
        "per call) subtracted)",
        ["case", "instructions", "x dict lookup"],
        [[n, f"{v:,.0f}", c.fmt(v / per_call["dict"], 3)] for n, v in per_call.items()],
    )


if __name__ == "__main__":
    main()
