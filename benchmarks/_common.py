"""Helpers shared by the benchmark scripts: statistics, tables, databases and server processes.

Not part of the package: every ``bench_*.py`` script imports this module from its own folder.
Everything here talks to 127.0.0.1 only and keeps its files in a temporary directory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import http.client
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
try:
    import promptstage  # noqa: F401
except ModuleNotFoundError:  # running from a checkout without an installed package
    sys.path.insert(0, str(ROOT / "src"))

PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get(
    "PROMPTSTAGE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# statistics ---------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> str:
    """``min-max`` of repeated figures, to show how noisy the median is."""
    if not values:
        return "-"
    return f"{fmt(min(values))}-{fmt(max(values))}"


def fmt(value: float | None, digits: int = 3) -> str:
    """A figure with ``digits`` significant digits (thousands separated above 1,000)."""
    if value is None or value != value:  # None or NaN
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


# output -------------------------------------------------------------------------------------
def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a Markdown table (so it can be pasted into docs/performance.md as is)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(f"\n{title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def machine() -> str:
    """One line naming the machine, Python and date, printed at the top of every script."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{_dt.date.today().isoformat()}  nproc={os.cpu_count()}  "
        f"python={platform.python_version()}  {platform.system()} {platform.machine()}  "
        f"load(1m)={load:.2f}"
    )


def log(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# credentials and databases ------------------------------------------------------------------
def admin_token() -> str:
    """A fresh instance admin key in the ``ps_<12 hex>_<64 hex>`` form."""
    return f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"


def sqlite_url(folder: str | Path, name: str = "bench.db") -> str:
    return f"sqlite:///{Path(folder) / name}"


@contextlib.contextmanager
def postgres_database(admin_url: str = PG_ADMIN_URL) -> Iterator[str | None]:
    """Create ``promptstage_bench_<hex>``, yield its URL, drop it afterwards.

    Yields ``None`` (the caller skips its Postgres column) when Postgres is unreachable.
    """
    try:
        import psycopg
    except ModuleNotFoundError:
        yield None
        return
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"promptstage_bench_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        log(f"Postgres unreachable at {admin_url} ({str(exc).strip().splitlines()[0]}): skipped")
        yield None
        return
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
        head, _, _ = admin_url.rpartition("/")
        yield f"{head}/{name}"
    finally:
        with contextlib.suppress(psycopg.Error):
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def open_context(url: str) -> Any:
    """Migrate the database at ``url`` and return ``(store, Context)`` built like create_app does."""
    from promptstage.server import open_store
    from promptstage.service.bus import EventBus
    from promptstage.service.context import Context
    from promptstage.settings import Settings

    store = open_store(Settings(database_url=url))
    return store, Context(store=store, bus=EventBus())


BASELINE_TABLE = "bench_baseline"


def create_baseline_table(engine: Any) -> None:
    """The one-row table that ``WriteBaseline`` updates (only in a benchmark's own database)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {BASELINE_TABLE} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"
        )
        conn.exec_driver_sql(f"INSERT INTO {BASELINE_TABLE} (id, n) VALUES (1, 0)")


class WriteBaseline:
    """One trivial write round trip: ``UPDATE bench_baseline SET n = n + 1`` in its own
    transaction on the store's engine (on SQLite with ``BEGIN IMMEDIATE`` like every promptstage
    write; on Postgres a commit, so it pays the same WAL flush as a label move)."""

    def __init__(self, engine: Any) -> None:
        from promptstage.store.sql.engine import BEGIN_OPTION, BEGIN_WRITE

        self.engine = engine
        self.options = {BEGIN_OPTION: BEGIN_WRITE} if engine.dialect.name == "sqlite" else {}

    def __call__(self) -> None:
        with self.engine.connect() as conn:
            conn.execution_options(**self.options)
            with conn.begin():
                conn.exec_driver_sql(f"UPDATE {BASELINE_TABLE} SET n = n + 1 WHERE id = 1")


# server processes ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_FACTORY = textwrap.dedent(
    '''
    """App factories for the benchmarks: uvicorn imports this module in every worker."""
    import os


    def promptstage_app():
        """What ``promptstage serve --workers N`` runs in each worker (its heap settled)."""
        from promptstage.cli.serve import worker_app

        return worker_app()


    _BODY = b'{"hello":"world"}'
    _HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"17")]


    async def _lifespan(receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


    async def hello_app(scope, receive, send):
        """The bare-ASGI ceiling: no framework, no routing, no auth."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _BODY})


    def replay_app():
        """A bare ASGI app answering every request with one recorded answer (status, headers
        and body from the JSON file named by ``BENCH_REPLAY``): what the server itself costs
        for that exchange, with no application work."""
        import json

        with open(os.environ["BENCH_REPLAY"], encoding="utf-8") as f:
            recorded = json.load(f)
        status = recorded["status"]
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in recorded["headers"]]
        body = recorded["body"].encode("latin-1")

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
                return
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return app


    def fastapi_hello():
        """FastAPI with two plain routes: the framework's own cost, without promptstage's.

        ``/async`` runs on the event loop; ``/sync`` is a ``def`` route, which FastAPI runs in
        its thread pool (as it runs promptstage's ``def`` routes and dependencies).
        """
        from fastapi import FastAPI
        from fastapi.responses import Response

        app = FastAPI()

        @app.get("/async")
        async def hello_async() -> Response:
            return Response(_BODY, media_type="application/json")

        @app.get("/sync")
        def hello_sync() -> Response:
            return Response(_BODY, media_type="application/json")

        return app
    '''
)

# The same uvicorn settings for every server the benchmarks start.
UVICORN_FLAGS = ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]


class Server:
    """A real uvicorn process on a free port, serving one of the factories above.

    ``app`` is ``"promptstage"`` (``create_app(Settings.from_env())``), ``"hello"`` (bare ASGI),
    ``"replay"`` (bare ASGI answering the recorded answer in ``$BENCH_REPLAY``) or
    ``"fastapi_hello"``. Stopped (SIGTERM, then SIGKILL) when the ``with`` block ends.
    """

    def __init__(
        self, app: str, *, env: dict[str, str] | None = None, workers: int = 1, folder: str | Path
    ) -> None:
        self.port = free_port()
        self.folder = Path(folder)
        (self.folder / "bench_factories.py").write_text(_FACTORY)
        target = {
            "promptstage": ["bench_factories:promptstage_app", "--factory"],
            "hello": ["bench_factories:hello_app"],
            "replay": ["bench_factories:replay_app", "--factory"],
            "fastapi_hello": ["bench_factories:fastapi_hello", "--factory"],
        }[app]
        self.cmd = [
            PYTHON,
            "-m",
            "uvicorn",
            *target,
            "--app-dir",
            str(self.folder),
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            *UVICORN_FLAGS,
        ]
        self.env = {**os.environ, **(env or {})}
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.log = open(self.folder / f"server-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.1)
                continue
            if self.workers > 1:
                time.sleep(1.5)  # the port opens before every worker has imported the app
            return
        raise RuntimeError(f"server did not start within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        text = (self.folder / f"server-{self.port}.log").read_text(errors="replace")
        return text[-2000:]

    @property
    def pids(self) -> list[int]:
        """The uvicorn process and its workers (for py-spy and CPU accounting)."""
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid, *[int(p) for p in out.stdout.split()]]

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Http:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 with a bearer token."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        all_headers = {**self.headers, **(headers or {})}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=payload, headers=all_headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, data, {k.lower(): v for k, v in response.getheaders()}

    def json(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data, _ = self.request(method, path, body)
        if status != expect:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def tempdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="promptstage-bench-") as folder:
        yield Path(folder)


def run_fresh(script: Path, args: Sequence[str], timeout: float = 170.0) -> Any:
    """Run ``script`` in a fresh interpreter and return the JSON it prints on its last line."""
    out = subprocess.run(
        [PYTHON, str(script), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def microbench_main(
    doc: str | None,
    script: str,
    measure_once: Any,
    baseline: str,
    argv: Sequence[str] | None = None,
    *,
    number: int = 300_000,
) -> None:
    """The command line of an ns/op microbenchmark (``bench_resolve``, ``bench_sdk_get``).

    ``measure_once(number)`` returns ``{scenario: ns/op}`` for one pass; each of ``--repeat``
    passes runs in this process or, with ``--fresh``, in a new one (``script --worker``), and
    the table gives every scenario's median beside the same run's ``baseline`` scenario.
    """
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--repeat", type=int, default=7, help="timeit runs per scenario (7)")
    parser.add_argument("--number", type=int, default=number, help=f"calls per run ({number})")
    parser.add_argument("--fresh", action="store_true", help="run each repeat in a new process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(measure_once(args.number)))
        return
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        if args.fresh:
            out = subprocess.run(
                [sys.executable, script, "--worker", "--number", str(args.number)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs.append(json.loads(out))
        else:
            runs.append(measure_once(args.number))
    results = {name: [r[name] for r in runs] for name in runs[0]}
    base = statistics.median(results[baseline])
    where = "fresh processes" if args.fresh else "one process"
    print(machine())
    print(f"{args.repeat} runs x {args.number:,} calls ({where})")
    print(f"{'scenario':<38} {'median ns':>10} {'min ns':>8} {'x ' + baseline:>14}")
    for name, values in results.items():
        mid = statistics.median(values)
        print(f"{name:<38} {mid:>10.0f} {min(values):>8.0f} {mid / base:>14.1f}")
