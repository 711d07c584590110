"""Instructions per call of the release path, counted by callgrind (repeatable on a noisy machine).

Timings on these shared 2-core machines move by 1.5x between runs; the number of CPU
instructions a call executes does not. This script runs each case under ``valgrind
--tool=callgrind`` twice, with the timed loop and without it, and prints the difference per
call beside a dict lookup counted the same way. The loop over the unit keys is counted alone
(a ``pass`` body) and subtracted from every case. Compare two trees by running it with
``PYTHONPATH=<tree>/src`` for each::

    .venv/bin/python benchmarks/count_instructions.py       # choose, resolve, get: 100,000 calls
    .venv/bin/python benchmarks/count_instructions.py --cases choose,get --calls 50000
    .venv/bin/python benchmarks/count_instructions.py --cases server --calls 20000

The ``server`` case is the server's whole ASGI app answering ``GET .../resolve`` from memory,
in process (no socket, no event loop: the coroutine runs to its end in one step), on a SQLite
project of 100 prompts seeded before valgrind starts; each call builds its request's scope as
uvicorn does.

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
import tempfile
from datetime import UTC, datetime, timedelta
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

_SERVER = """
import logging, os
logging.disable(logging.WARNING)
from promptstage.server import create_app
from promptstage.settings import Settings
app = create_app(Settings(
    database_url=os.environ["BENCH_DB"], state_check_seconds=3600.0, auth_cache_seconds=3600.0
))  # valgrind runs slowly: nothing expires during the count
app.state.state_cache.get(os.environ["BENCH_PROJECT"])  # as the first requests would
app.state.authenticator.authenticate(os.environ["BENCH_TOKEN"])
path = os.environ["BENCH_PATH"]
headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*"),
           (b"authorization", b"Bearer " + os.environ["BENCH_TOKEN"].encode())]
queries = {u: f"label=prod&unit={u}&channel=whatsapp".encode() for u in units}
sent = []
async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}
async def send(message):
    sent.append(message)
def serve(unit):
    scope = {"type": "http", "http_version": "1.1", "scheme": "http", "method": "GET",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "root_path": "",
             "path": path, "raw_path": path.encode(), "query_string": queries[unit],
             "headers": headers, "state": {}}
    try:
        app(scope, receive, send).send(None)
    except StopIteration:
        return
    raise RuntimeError("the request waited: not answered from memory")
serve(units[0]); del sent[:]; serve(units[0])
assert sent[0]["status"] == 200, sent
"""

CASES: dict[str, tuple[str, str]] = {
    # name: (set-up, the statement run once per call with `unit` bound)
    "loop": ("", "pass"),
    "dict": ("d = {'booking.system': 1}", "d['booking.system']"),
    "choose": (_RELEASE, "choose(unit, ctx)"),
    "resolve": (_RELEASE, "resolve(1, release, unit, ctx)"),
    "get": (_CLIENT, "get(NAME, 'prod', unit, ctx)"),
    "server": (_SERVER, "serve(unit); sent.clear()"),
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


def count(case: str, rounds: int, env: dict[str, str]) -> int:
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
        env=os.environ | env | {"PYTHONHASHSEED": "0"},  # the same dict layouts in every run
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"count_instructions: case {case!r} failed under valgrind:\n{done.stderr}")
    return int(found.group(1))


def seeded_server(folder: str) -> dict[str, str]:
    """A SQLite project of 100 prompts and an instance key for the ``server`` case."""
    import bench_snapshot as bs

    from promptstage.service import keys

    url = c.sqlite_url(folder)
    store, ctx = c.open_context(url)
    try:
        bs.seed_bulk(store, ctx, 100, 3, datetime.now(UTC) - timedelta(days=1))
        token = keys.create_instance_key(ctx, "bench")
    finally:
        store.close()
    return {
        "BENCH_DB": url,
        "BENCH_TOKEN": token,
        "BENCH_PROJECT": bs.PROJECT,
        "BENCH_PATH": f"/api/v1/projects/{bs.PROJECT}/prompts/{bs.prompt_name(50)}/resolve",
    }


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
    with tempfile.TemporaryDirectory() as folder:
        env = seeded_server(folder) if "server" in cases else {}
        loop = (count("loop", rounds, env) - count("loop", 0, env)) / calls
        per_call = {}
        for name in ["dict", *(n for n in cases if n not in ("dict", "loop"))]:
            per_call[name] = (count(name, rounds, env) - count(name, 0, env)) / calls - loop
            c.log(f"{name}: {per_call[name]:,.0f} instructions per call")
    c.print_table(
        f"instructions per call (callgrind, {calls:,} calls; set-up and the loop ({loop:,.0f} "
        "per call) subtracted)",
        ["case", "instructions", "x dict lookup"],
        [[n, f"{v:,.0f}", c.fmt(v / per_call["dict"], 3)] for n, v in per_call.items()],
    )


if __name__ == "__main__":
    main()
