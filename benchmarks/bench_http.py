"""HTTP throughput of the runtime endpoints (SPEC §11: >= 3,000 requests/s on 2 cores for
``GET /prompts/{name}/resolve`` and for ``GET /snapshot`` 304 revalidation).

Starts real uvicorn processes (same flags for all) on a SQLite store seeded with the demo
project, with 1 and then 2 workers, and drives each with a load generator for ``--duration``
seconds per round, the targets interleaved within each round:

- ``hello``: a bare ASGI app answering 17 bytes (the ceiling of uvicorn on this machine);
- ``fastapi hello``: FastAPI with one plain route, ``async def`` and ``def`` (the framework's
  own cost; FastAPI runs a ``def`` route or dependency in its thread pool);
- ``resolve``: ``GET .../prompts/booking.system/resolve?label=prod&unit=...&channel=...``;
- ``snapshot 304``: ``GET .../snapshot`` with ``If-None-Match`` set to the current ETag.

Every request carries the instance admin key. The load generator is ``wrk`` when it is
installed (``apt-get install -y wrk``), else a Python generator (several processes, each
multiplexing raw keep-alive sockets with ``selectors``). It shares the 2 cores with the server,
so the table also gives the server's CPU time per request (from /proc) and the ceiling that
implies if each worker had a core of its own (workers / CPU seconds per request). In-process baseline: a dict lookup's ops/s::

    .venv/bin/python benchmarks/bench_http.py                  # 5 rounds x 2 s per target
    .venv/bin/python benchmarks/bench_http.py --generator python --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "clinic"
RESOLVE = f"/api/v1/projects/{PROJECT}/prompts/booking.system/resolve?label=prod&unit=user-42&channel=whatsapp"
SNAPSHOT = f"/api/v1/projects/{PROJECT}/snapshot"
GOAL_RPS = 3000
CLK_TCK = os.sysconf("SC_CLK_TCK")


# load generators -----------------------------------------------------------------------------
def run_wrk(
    port: int, path: str, headers: dict[str, str], duration: float, connections: int
) -> tuple[float, int]:
    """Requests/s and the count of non-2xx/3xx answers, from ``wrk -t1``."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=duration + 30,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:(.*)", out)
    if rps is None:
        raise RuntimeError(f"wrk printed no rate:\n{out}")
    failed = int(bad.group(1)) if bad else 0
    if errors:  # "connect 0, read 0, write 0, timeout 0"
        failed += sum(int(n) for n in re.findall(r"\d+", errors.group(1)))
    return float(rps.group(1)), failed


def _py_worker(port: int, request: bytes, connections: int, duration: float, queue: Any) -> None:
    """One generator process: ``connections`` keep-alive sockets, one request in flight each."""
    sel = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytearray] = {}
    for _ in range(connections):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        buffers[s] = bytearray()
    done = bad = 0
    start = time.perf_counter()
    deadline = start + duration
    for s in buffers:
        s.send(request)
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, _ in sel.select(timeout=deadline - now):
            s = key.fileobj  # type: ignore[assignment]
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("server closed a keep-alive connection")
            buf = buffers[s]
            buf += chunk
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = bytes(buf[:end]).lower()
                at = head.find(b"content-length:")
                length = (
                    int(
                        head[
                            at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None
                        ]
                    )
                    if at >= 0
                    else 0
                )
                if len(buf) < end + 4 + length:
                    break
                if head[9:10] not in (b"2", b"3"):
                    bad += 1
                del buf[: end + 4 + length]
                done += 1
                s.send(request)
    elapsed = time.perf_counter() - start
    for s in buffers:
        s.close()
    queue.put((done, bad, elapsed))


def run_python(
    port: int, path: str, headers: dict[str, str], duration: float, connections: int, processes: int
) -> tuple[float, int]:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *[f"{k}: {v}" for k, v in headers.items()]]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    per = max(1, connections // processes)
    procs = [
        ctx.Process(target=_py_worker, args=(port, request, per, duration, queue))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=duration + 30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    rps = sum(done / elapsed for done, _, elapsed in results)
    return rps, sum(bad for _, bad, _ in results)


# server CPU accounting -----------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


# driver --------------------------------------------------------------------------------------
def dict_lookup_ops() -> list[float]:
    timer = timeit.Timer(
        "cache[key]", globals={"cache": {"booking.system/prod": 2}, "key": "booking.system/prod"}
    )
    return [1_000_000 / t for t in timer.repeat(repeat=7, number=1_000_000)]


def seed(url: str) -> str:
    """Seed the demo; return the snapshot's current ETag."""
    from promptstage.service import demo
    from promptstage.service.snapshot import build_state

    store, ctx = c.open_context(url)
    try:
        demo.seed_demo(ctx)
        return build_state(ctx, PROJECT).etag
    finally:
        store.close()


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    url = c.sqlite_url(folder)
    etag = seed(url)
    token = c.admin_token()
    env = {
        "PROMPTSTAGE_DATABASE_URL": url,
        "PROMPTSTAGE_ADMIN_KEY": token,
        "PROMPTSTAGE_LOG_LEVEL": "warning",
    }
    auth = {"Authorization": f"Bearer {token}"}
    targets = {
        "hello (bare ASGI)": ("hello", "/", {}, 200),
        "fastapi hello, async def": ("fastapi_hello", "/async", {}, 200),
        "fastapi hello, def (thread pool)": ("fastapi_hello", "/sync", {}, 200),
        "resolve": ("promptstage", RESOLVE, auth, 200),
        "snapshot 304": ("promptstage", SNAPSHOT, {**auth, "If-None-Match": etag}, 304),
    }
    results: dict[str, Any] = {}
    for workers in args.workers:
        servers: dict[str, c.Server] = {}
        try:
            for app in ("hello", "fastapi_hello", "promptstage"):
                servers[app] = c.Server(app, env=env, workers=workers, folder=folder).__enter__()
            for name, (app, path, headers, expect) in targets.items():  # check, then warm up
                client = c.Http(servers[app].port)
                status, body, _ = client.request("GET", path, headers=headers)
                client.close()
                if status != expect:
                    raise RuntimeError(
                        f"{name}: GET {path} -> {status} {body[:200]!r}, expected {expect}"
                    )
                generate(args, servers[app].port, path, headers, 1.0)
            for r in range(args.rounds):
                c.log(f"{workers} worker(s): round {r + 1}/{args.rounds}")
                for name, (app, path, headers, _) in targets.items():
                    pids = servers[app].pids
                    cpu0 = cpu_seconds(pids)
                    rps, bad = generate(args, servers[app].port, path, headers, args.duration)
                    cpu = cpu_seconds(pids) - cpu0
                    if bad:
                        raise RuntimeError(f"{name}: {bad} answers were not 2xx/3xx")
                    entry = results.setdefault((workers, name), {"rps": [], "cpu_us": []})
                    entry["rps"].append(rps)
                    entry["cpu_us"].append(cpu / (rps * args.duration) * 1e6)
        finally:
            for server in servers.values():
                server.__exit__()
    return results


def generate(
    args: argparse.Namespace, port: int, path: str, headers: dict[str, str], duration: float
) -> tuple[float, int]:
    if args.generator == "wrk":
        return run_wrk(port, path, headers, duration, args.connections)
    return run_python(port, path, headers, duration, args.connections, args.processes)


def report(results: dict[Any, Any], dict_ops: list[float], args: argparse.Namespace) -> None:
    rows = [
        [
            "-",
            "dict lookup, in process (baseline)",
            c.fmt(c.median(dict_ops)),
            c.spread(dict_ops),
            "-",
            "-",
            "-",
            "-",
        ]
    ]
    for (workers, name), entry in results.items():
        rps = c.median(entry["rps"])
        cpu_us = c.median(entry["cpu_us"])
        hello = c.median(results[(workers, "hello (bare ASGI)")]["rps"])
        capacity = workers / (cpu_us / 1e6) if workers != "-" else float("nan")
        goal = ""
        if name in ("resolve", "snapshot 304"):
            goal = f">= {GOAL_RPS:,}: " + ("met" if rps >= GOAL_RPS else "MISSED")
        rows.append(
            [
                workers,
                name,
                c.fmt(rps),
                c.spread(entry["rps"]),
                f"{rps / hello:.2f}",
                c.fmt(cpu_us),
                c.fmt(capacity),
                goal,
            ]
        )
    c.print_table(
        f"Requests/s: median of {args.rounds} rounds of {args.duration:g} s, generator {args.generator}"
        f" ({args.connections} keep-alive connections"
        + ("" if args.generator == "wrk" else f" over {args.processes} processes")
        + ")",
        [
            "workers",
            "target",
            "req/s",
            "range over rounds",
            "/ hello",
            "server CPU µs/req",
            "CPU-bound ceiling req/s (workers / CPU per req)",
            "SPEC goal",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per target per round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="python generator processes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python"
    )
    args = parser.parse_args()
    print(
        f"bench_http  {c.machine()}  generator={args.generator}"
        + (
            f" ({subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.split(' [')[0]})"
            if args.generator == "wrk"
            else ""
        )
    )
    dict_ops = dict_lookup_ops()
    with c.tempdir() as folder:
        results = measure(args, folder)
    report(results, dict_ops, args)


if __name__ == "__main__":
    main()
