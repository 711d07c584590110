"""``make fuzz``: the long schemathesis run (its ``st run`` CLI) against a real, seeded server.

Every phase runs (examples, coverage, fuzzing, and stateful sequences following the links
schemathesis infers from the document), with many more examples per operation than the short
run in ``make test``. The server is seeded (``seed.py``) and the hooks (``hooks.py``) put the
seeded ids into the generated paths; at the end the reach of the run is printed (``reach.py``
says what it counts) and the exit status is non-zero when an operation was not reached.
Usage: ``python -m e2e.fuzz.long_run [MAX_EXAMPLES] [extra st run options...]`` from ``tests/``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .hooks import SEEDS_ENV
from .server import EXCLUDED_PATHS, fuzzed_operations, live_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
DEFAULT_EXAMPLES = 200
REPORTS = Path(__file__).resolve().parents[3] / ".promptstage" / "fuzz-report"


def main(argv: list[str]) -> int:
    examples = argv[0] if argv and argv[0].isdigit() else str(DEFAULT_EXAMPLES)
    extra = argv[1:] if argv and argv[0].isdigit() else argv
    logging.getLogger("promptstage.webhooks").setLevel(logging.ERROR)  # fuzzed hooks point nowhere
    with tempfile.TemporaryDirectory() as directory, live_server(Path(directory)) as server:
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
            "run",
            f"{server.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {server.admin_key}",
            "--max-examples",
            examples,
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--exclude-path-regex",
            EXCLUDED_PATHS,
            "--exclude-checks",
            "positive_data_acceptance",
            "--workers",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(REPORTS),
            *extra,
        ]
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "e2e.fuzz.hooks",
            SEEDS_ENV: json.dumps(server.seeds),
        }
        status = subprocess.call(command, env=env, cwd=Path(__file__).resolve().parents[2])
        summary = server.reach.summary(fuzzed_operations())
        print(summary, flush=True)
        return status or ("not reached" in summary)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
