"""``Client.get`` beside the Langfuse Python SDK's ``get_prompt`` (SPEC §11: >= 3x faster), and
the SDK against promptstage's Langfuse-compatible API with its cache on and off.

``langfuse`` is a dev dependency: the workers run with this interpreter when it imports
``langfuse``; otherwise the script builds a throwaway venv with ``langfuse`` and this repository
(no extras) and runs the workers there, without the facade rows. The parent starts a real
promptstage server (uvicorn process, SQLite in a tempdir) holding ``booking.system`` (chat,
``prod``) and a runtime key. Each worker, in one fresh process:

* starts a minimal local HTTP endpoint (stdlib ``http.server`` on 127.0.0.1) answering
  ``GET /api/public/v2/prompts/{name}`` with the prompt JSON the Langfuse SDK expects (the shape
  of ``langfuse.api.Prompt``: ``type``, ``name``, ``version``, ``prompt``, ``config``,
  ``labels``, ``tags``), builds ``Langfuse(base_url=..., tracing_enabled=False)`` and warms its
  prompt cache with one ``get_prompt``;
* times ``langfuse.get_prompt("booking.system", type="chat")`` (cache hit: the endpoint's
  request count is checked not to grow), a plain dict lookup, and promptstage's ``Client.get``
  without a release and with an active release + two targeting rules (the client holds the
  snapshot of ``bench_sdk_get.py``; no server);
* against the real server's ``/api/public/``: times the Langfuse SDK's ``get_prompt`` with its
  cache on (a hit) and off (``cache_ttl_seconds=0``: one HTTP request to the facade per call),
  and promptstage's ``Client.get`` connected to the same server (the same prompt and label);
* prints ns/op (median of ``timeit`` repeats) as JSON.

The figures are the medians over the fresh processes, with the ratios::

    .venv/bin/python benchmarks/bench_langfuse.py                  # 5 fresh processes
    .venv/bin/python benchmarks/bench_langfuse.py --venv /tmp/lf   # langfuse in a venv there

If ``langfuse`` cannot be installed, the script says so and prints no figure.
"""

from __future__ import annotations

import argparse
import importlib.util
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


def _facade_rows(url: str, token: str, number: int, repeat: int) -> dict[str, float]:
    """The Langfuse SDK against the real server's facade (cache on and off), beside our get."""
    from langfuse import Langfuse

    from promptstage import Client
    from promptstage.domain.langfuse import key_pair

    public, secret = key_pair(token)
    lf = Langfuse(
        public_key=public, secret_key=secret, base_url=url, tracing_enabled=False, timeout=60
    )
    first = lf.get_prompt(PROMPT, type="chat", cache_ttl_seconds=3600, fetch_timeout_seconds=60)
    assert first.version == 1 and not first.is_fallback, "the facade did not serve the prompt"
    ps = Client(url, "clinic", token, cache_path=None, init_timeout=60.0)
    assert ps.get(PROMPT, "prod").version == 1
    env = {"lf_get": lf.get_prompt, "get": ps.get}
    http_number = max(20, number // 2000)
    out = {
        "facade: Langfuse get_prompt, cache on": _best_of(
            f'lf_get("{PROMPT}", type="chat", cache_ttl_seconds=3600)', env, number // 5, repeat
        ),
        "facade: Langfuse get_prompt, cache off": _best_of(
            f'lf_get("{PROMPT}", type="chat", cache_ttl_seconds=0)', env, http_number, repeat
        ),
        "facade: promptstage get, same server": _best_of(
            f'get("{PROMPT}", "prod")', env, number, repeat
        ),
    }
    ps.close()
    return out


def worker(number: int, repeat: int, url: str | None, token: str | None) -> dict[str, Any]:
    import httpx
    from bench_sdk_get import bootstrap
    from langfuse import Langfuse

    from promptstage import Client

    # First: after a Langfuse client's shutdown() a second one in the process cannot fetch.
    facade = {} if url is None or token is None else _facade_rows(url, token, number, repeat)
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
    out.update(facade)
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


def measure(
    python: Path | str, runs: int, number: int, repeat: int, live: tuple[str, str] | None = None
) -> None:
    results = []
    extra = [] if live is None else ["--url", live[0], "--token", live[1]]
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
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=c.ROOT,
        )
        if out.returncode != 0:
            raise RuntimeError(f"worker failed:\n{out.stderr[-8000:]}")
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    names = [n for n in results[0]["ns"] if not n.startswith("facade:")]
    facade = [n for n in results[0]["ns"] if n.startswith("facade:")]
    med = {n: c.median([r["ns"][n] for r in results]) for n in [*names, *facade]}
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
    if facade:
        ours = med["facade: promptstage get, same server"]
        c.print_table(
            "Langfuse SDK against promptstage's /api/public/ (a real server process), beside "
            "promptstage's get on the same server, same process",
            ["operation", "median ns/op", "min-max", "x promptstage get"],
            [
                [
                    name.removeprefix("facade: "),
                    c.fmt(med[name]),
                    c.spread([r["ns"][name] for r in results]),
                    f"{med[name] / ours:.1f}",
                ]
                for name in facade
            ],
        )


def _live_server(folder: Path) -> Any:
    """A real promptstage server (uvicorn process) holding booking.system, and a runtime key."""
    admin = c.admin_token()
    env = {
        "PROMPTSTAGE_DATABASE_URL": c.sqlite_url(folder),
        "PROMPTSTAGE_ADMIN_KEY": admin,
        "PROMPTSTAGE_EVAL_GATE": "0",
        "PROMPTSTAGE_RATE_LIMIT_WRITES_PER_KEY": "0",
        "PROMPTSTAGE_RATE_LIMIT_WRITES_PER_IP": "0",
    }
    server = c.Server("promptstage", env=env, folder=folder)
    return server, admin


def _seed(server: Any, admin: str) -> str:
    api = c.Http(server.port, admin)
    base = "/api/v1/projects"
    api.json("POST", base, {"name": "clinic"}, expect=201)
    version = {
        "template": LANGFUSE_PROMPT["prompt"],
        "config": {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
    }
    api.json(
        "POST",
        f"{base}/clinic/prompts",
        {"name": PROMPT, "type": "chat", "version": version},
        expect=201,
    )
    api.json(
        "PUT",
        f"{base}/clinic/prompts/{PROMPT}/labels/prod",
        {"version": 1, "expected_version": None, "reason": "bench"},
    )
    token: str = api.json("POST", f"{base}/clinic/keys", {"role": "runtime"}, expect=201)["token"]
    api.close()
    return token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="fresh worker processes (5)")
    parser.add_argument("--number", type=int, default=200_000, help="calls per timeit run (200000)")
    parser.add_argument("--repeat", type=int, default=5, help="timeit runs per process (5)")
    parser.add_argument(
        "--venv", default=None, help="run the workers in a venv built (or reused) there"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--token", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.number, args.repeat, args.url, args.token)))
        return
    print(c.machine())
    if args.venv is None and importlib.util.find_spec("langfuse") is not None:
        with c.tempdir() as folder:
            server, admin = _live_server(folder)
            with server:
                token = _seed(server, admin)
                url = f"http://127.0.0.1:{server.port}"
                measure(sys.executable, args.runs, args.number, args.repeat, (url, token))
        return
    with c.tempdir() as folder:
        found = _venv(Path(args.venv) if args.venv else folder / "venv")
        if isinstance(found, str):
            print(
                f"\nlangfuse could not be installed, so there is no comparison (no figures):\n{found}"
            )
            return
        measure(found, args.runs, args.number, args.repeat)


if __name__ == "__main__":
    main()
