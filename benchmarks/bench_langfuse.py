"""``Client.get`` beside the Langfuse Python SDK's cached ``get_prompt`` (SPEC §11: >= 3x faster).

The Langfuse SDK is never installed into the project's environment: this script builds a
throwaway venv in a tempdir and ``pip install``\\ s ``langfuse`` and this repository (no extras)
into it, then runs its measuring worker with that venv's Python, in fresh processes. Each
worker, in one process:

* starts a minimal local HTTP endpoint (stdlib ``http.server`` on 127.0.0.1) answering
  ``GET /api/public/v2/prompts/{name}`` with the prompt JSON the Langfuse SDK expects (the shape
  of ``langfuse.api.Prompt``: ``type``, ``name``, ``version``, ``prompt``, ``config``,
  ``labels``, ``tags``), builds ``Langfuse(base_url=..., tracing_enabled=False)`` and warms its
  prompt cache with one ``get_prompt``;
* times ``langfuse.get_prompt("booking.system", type="chat")`` (cache hit: the endpoint's
  request count is checked not to grow), a plain dict lookup, and promptstage's ``Client.get``
  without a release and with an active release + two targeting rules (the client holds the
  snapshot of ``bench_sdk_get.py``; no server);
* prints ns/op (median of ``timeit`` repeats) as JSON.

The figures are the medians over the fresh processes, with the ratios::

    .venv/bin/python benchmarks/bench_langfuse.py                  # venv + 5 fresh processes
    .venv/bin/python benchmarks/bench_langfuse.py --venv /tmp/lf   # keep/reuse the venv there

If ``langfuse`` cannot be installed, the script says so and prints no figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import timeit
import venv
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROMPT = "booking.system"
GOAL_RATIO = 3.0
LANGFUSE_PROMPT = {
    "type": "chat",
    "name": PROMPT,
    "version": 3,
    "prompt": [{"role": "system", "content": "You book appointments for {{clinic}}."}],
    "config": {"model": "gpt-4o-2024-08-06", "temperature": 0.2},
    "labels": ["production", "latest"],
    "tags": ["booking"],
    "commitMessage": None,
}


# worker (runs inside the throwaway venv) ---------------------------------------------------------
class _Endpoint(BaseHTTPRequestHandler):
    """Serves the one prompt; counts requests; answers anything else with an empty 200."""

    prompt_requests = 0
    other_requests = 0

    def do_GET(self) -> None:
        if self.path.split("?")[0] == f"/api/public/v2/prompts/{PROMPT}":
            type(self).prompt_requests += 1
            self._send(200, LANGFUSE_PROMPT)
        else:
            type(self).other_requests += 1
            self._send(404, {"message": "not found"})

    def do_POST(self) -> None:
        type(self).other_requests += 1
        self._send(200, {})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _best_of(stmt: str, env: dict[str, Any], number: int, repeat: int) -> float:
    """Median ns/op over ``repeat`` timeit runs of ``number`` calls."""
    timer = timeit.Timer(stmt, globals=env)
    timer.timeit(max(1, number // 10))
    return c.median([t / number * 1e9 for t in timer.repeat(repeat=repeat, number=number)])


def worker(number: int, repeat: int) -> dict[str, Any]:
    import httpx
    from bench_sdk_get import bootstrap
    from langfuse import Langfuse

    from promptstage import Client

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    lf = Langfuse(
        public_key="pk-lf-bench", secret_key="sk-lf-bench", base_url=url, tracing_enabled=False
    )
    warm = lf.get_prompt(PROMPT, type="chat", cache_ttl_seconds=3600)
    assert warm.version == 3 and not warm.is_fallback, "the Langfuse SDK did not load the prompt"
    fetched = _Endpoint.prompt_requests

    snap = bootstrap()
    ps = Client(
        "http://bench.invalid",
        "clinic",
        "ps_bench_secret",
        bootstrap=snap,
        stream=False,
        poll_interval=3600.0,
        close_timeout=0.0,
        transport=httpx.MockTransport(lambda r: httpx.Response(503)),
    )
    ctx = {"channel": "whatsapp", "vertical": "dental"}
    cache = {f"agent{i:03d}.system": i for i in range(200)} | {"router.intent": 7}
    env = {"lf_get": lf.get_prompt, "get": ps.get, "ctx": ctx, "cache": cache}
    out = {
        "dict lookup (baseline)": _best_of('cache["router.intent"]', env, number, repeat),
        "Langfuse get_prompt, cached": _best_of(
            f'lf_get("{PROMPT}", type="chat", cache_ttl_seconds=3600)', env, number // 5, repeat
        ),
        "promptstage get, no release": _best_of(
            'get("router.intent", "prod")', env, number, repeat
        ),
        "promptstage get, release + 2 rules": _best_of(
            'get("booking.system", "prod", "user-42", ctx)', env, number, repeat
        ),
    }
    assert _Endpoint.prompt_requests == fetched, "get_prompt went to the network while timed"
    ps.close(timeout=0.0)
    lf.shutdown()
    server.shutdown()
    import langfuse

    return {
        "ns": out,
        "langfuse_version": getattr(langfuse, "__version__", "?"),
        "other_requests": _Endpoint.other_requests,
    }


# parent ------------------------------------------------------------------------------------------
def _venv(folder: Path) -> Path | str:
    """A venv with langfuse and this repository installed; its python, or why it failed."""
    python = folder / "bin" / "python"
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import langfuse, promptstage"], capture_output=True
        )
        if probe.returncode == 0:
            return python
    src = folder.parent / f"{folder.name}-promptstage-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(c.ROOT / name, src / name)
    shutil.copytree(
        c.ROOT / "src" / "promptstage",
        src / "src" / "promptstage",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    c.log(f"pip install langfuse + promptstage (no extras) into {folder} ...")
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "langfuse",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "is ignored" not in line]
        return "\n".join(lines[-15:]) or f"pip exited with {done.returncode}"
    return python


def measure(python: Path, runs: int, number: int, repeat: int) -> None:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [
                str(python),
                str(Path(__file__)),
                "--worker",
                "--number",
                str(number),
                "--repeat",
                str(repeat),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=c.ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"worker failed:\n{out.stderr[-3000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    names = list(results[0]["ns"])
    med = {n: c.median([r["ns"][n] for r in results]) for n in names}
    base, lf = med["dict lookup (baseline)"], med["Langfuse get_prompt, cached"]
    rows = []
    for name in names:
        values = [r["ns"][name] for r in results]
        is_ps = name.startswith("promptstage")
        ratio = lf / med[name]
        rows.append(
            [
                name,
                c.fmt(med[name]),
                c.spread(values),
                f"{med[name] / base:.1f}",
                f"{ratio:.1f}x" if is_ps else "-",
                f">= {GOAL_RATIO:g}x" if is_ps else "-",
                ("yes" if ratio >= GOAL_RATIO else "no") if is_ps else "-",
            ]
        )
    c.print_table(
        f"get beside Langfuse {results[0]['langfuse_version']} cached get_prompt, same process: "
        f"median of {runs} fresh processes ({repeat} timeit runs each)",
        ["operation", "median ns/op", "min-max", "x dict", "Langfuse / this", "goal", "met"],
        rows,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="fresh worker processes (5)")
    parser.add_argument("--number", type=int, default=200_000, help="calls per timeit run (200000)")
    parser.add_argument("--repeat", type=int, default=5, help="timeit runs per process (5)")
    parser.add_argument(
        "--venv", default=None, help="where to build (or reuse) the venv; default: a tempdir"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.number, args.repeat)))
        return
    print(c.machine())
    if args.venv:
        found = _venv(Path(args.venv))
        if isinstance(found, str):
            print(
                f"\nlangfuse could not be installed, so there is no comparison (no figures):\n{found}"
            )
            return
        measure(found, args.runs, args.number, args.repeat)
        return
    with c.tempdir() as folder:
        found = _venv(folder / "venv")
        if isinstance(found, str):
            print(
                f"\nlangfuse could not be installed, so there is no comparison (no figures):\n{found}"
            )
            return
        measure(found, args.runs, args.number, args.repeat)


if __name__ == "__main__":
    main()
