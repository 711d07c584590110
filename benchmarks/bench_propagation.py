"""Rollback propagation (SPEC §11): a label moved through the API -> 200 SDK clients serve it.

One ``promptstage`` server process (uvicorn, SQLite file in a tempdir, 127.0.0.1), ``--clients``
real ``promptstage.Client`` instances spread over ``--procs`` worker processes, all following
``/events``. The parent moves ``prod`` back and forth between two versions with ``PUT
.../labels/prod`` (``--moves`` times). For every client and every move, the delay is the time
from just before the ``PUT`` is sent until the client's in-memory state swap that makes ``get``
serve the new version (hooked in the client's state publication, read on the system-wide
monotonic clock, so the parent's and the workers' clocks agree). ``get`` is then checked to
serve it. Goal: p50 <= 50 ms, p99 <= 250 ms over all (client, move) pairs. Baseline, in the
same run: the round trip of the ``PUT`` itself (commit included). The spread row (each client's
delay minus the first client's in the same move) separates the fan-out from the write.

At scale (issue 16): ``--replicas 3`` starts three server processes on one Postgres database
(a fresh ``promptstage_bench_<hex>``), spreads the worker processes over them round-robin and
sends the ``PUT`` to the first, so every other replica learns of the move through Postgres
``LISTEN/NOTIFY``; ``--prompts N`` bulk-seeds the project to N prompts first
(``bench_snapshot.seed_bulk``, 3 versions each), so every client holds the whole project. The
clients of one worker process share one feed (one state and one stream), as the SDK does by
default; ``--no-share`` gives each its own (``Client(share=False)``)::

    .venv/bin/python benchmarks/bench_propagation.py                   # 200 clients, 4 procs, 10 moves
    .venv/bin/python benchmarks/bench_propagation.py --clients 40 --procs 2 --moves 4
    .venv/bin/python benchmarks/bench_propagation.py --clients 1000 --procs 8
    .venv/bin/python benchmarks/bench_propagation.py --clients 1000 --procs 8 --replicas 3
    .venv/bin/python benchmarks/bench_propagation.py --clients 1000 --procs 8 --no-share
    .venv/bin/python benchmarks/bench_propagation.py --clients 8 --procs 8 --prompts 100000
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import re
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT, PROMPT, LABEL = "bench", "booking.system", "prod"
SETTLE_TIMEOUT_S = 10.0  # per move: a client that has not converged by then counts as missed
SEED_VERSIONS = 3  # per bulk-seeded prompt (--prompts)
GOAL_P50_MS, GOAL_P99_MS = 50.0, 250.0


# worker processes ---------------------------------------------------------------------------
def _worker(url: str, token: str, count: int, init_timeout: float, share: bool, conn: Any) -> None:
    """Hold ``count`` clients; answer ``("expect", version, t0)`` with each client's delay."""
    from promptstage import Client

    class TimedClient(Client):
        """A Client that notes when each state swap starts serving a new version of the label."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.swaps: list[tuple[float, int]] = []
            super().__init__(*args, **kwargs)

        def _publish(self, state: Any) -> None:
            super()._publish(state)
            entry = state.entries.get((PROMPT, LABEL))
            if entry is not None and (not self.swaps or self.swaps[-1][1] != entry.version):
                self.swaps.append((time.monotonic(), entry.version))

    tuning = {
        "init_timeout": init_timeout,
        "backoff_initial": 0.1,
        "backoff_max": 1.0,
        "close_timeout": 1.0,
        "share": share,
    }
    clients: list[TimedClient] = []
    lock = threading.Lock()

    def make() -> None:
        ps = TimedClient(url, PROJECT, token, **tuning)
        with lock:
            clients.append(ps)

    threads = [threading.Thread(target=make) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn.send(("ready", sum(1 for ps in clients if ps.status().source == "server")))
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                return
            _, version, t0 = msg
            deadline = time.monotonic() + SETTLE_TIMEOUT_S
            delays: list[float | None] = []
            for ps in clients:
                found = None
                while found is None and time.monotonic() < deadline:
                    found = next(
                        (t for t, v in reversed(ps.swaps) if v == version and t >= t0), None
                    )
                    if found is None:
                        time.sleep(0.002)
                if found is not None and ps.get(PROMPT, LABEL).version != version:
                    found = None  # the swap was overtaken: not serving it
                delays.append(None if found is None else found - t0)
            conn.send(("delays", delays))
    finally:
        for ps in clients:
            ps.close(timeout=0.2)


# parent -------------------------------------------------------------------------------------
def _setup(http: c.Http, seeded: bool) -> tuple[str, int, int]:
    if not seeded:
        http.json("POST", "/api/v1/projects", {"name": PROJECT}, expect=201)
    base = f"/api/v1/projects/{PROJECT}"
    http.json("POST", f"{base}/prompts", {"name": PROMPT, "type": "chat"}, expect=201)
    numbers = []
    for text in (
        "You book appointments for {{ clinic }}.",
        "You book appointments for {{ clinic }}. Be brief.",
    ):
        body = {
            "template": [{"role": "system", "content": text}],
            "variables": [{"name": "clinic", "type": "string", "required": True}],
            "config": {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
        }
        numbers.append(
            http.json("POST", f"{base}/prompts/{PROMPT}/versions", body, expect=201)["version"]
        )
    http.json(
        "PUT",
        f"{base}/prompts/{PROMPT}/labels/{LABEL}",
        {"version": numbers[0], "expected_version": None},
    )
    token = http.json("POST", f"{base}/keys", {"role": "runtime", "name": "bench"}, expect=201)[
        "token"
    ]
    return token, numbers[0], numbers[1]


def _sse_clients(port: int, admin: str) -> int:
    http = c.Http(port, admin)
    try:
        _, body, _ = http.request("GET", "/metrics")
    finally:
        http.close()
    found = re.search(rb"^promptstage_sse_clients (\d+)", body, flags=re.MULTILINE)
    return int(found.group(1)) if found else -1


def _warm(http: c.Http, port: int, token: str) -> c.Http:
    """``http``, or a new connection if the server closed the idle one (keep-alive timeout)."""
    try:
        http.request("GET", "/healthz")
        return http
    except (OSError, c.http.client.HTTPException):
        http.close()
        fresh = c.Http(port, token)
        fresh.request("GET", "/healthz")
        return fresh


@contextlib.contextmanager
def _database(folder: Path, replicas: int) -> Iterator[str]:
    """SQLite in ``folder`` for one server; a fresh Postgres database for several replicas."""
    if replicas == 1:
        yield c.sqlite_url(folder)
        return
    with c.postgres_database() as url:
        if url is None:
            raise SystemExit(f"--replicas {replicas} needs Postgres at {c.PG_ADMIN_URL}")
        yield url


def _seed(url: str, prompts: int) -> None:
    import bench_snapshot as bs

    t0 = time.monotonic()
    store, ctx = c.open_context(url)
    try:
        bs.seed_bulk(store, ctx, prompts, SEED_VERSIONS, datetime.now(UTC) - timedelta(days=1))
    finally:
        store.close()
    c.log(f"seeded {prompts:,} prompts in {time.monotonic() - t0:.1f} s")


def run(
    clients: int, procs: int, moves: int, replicas: int = 1, prompts: int = 0, share: bool = True
) -> dict[str, Any]:
    admin = c.admin_token()
    with c.tempdir() as folder, _database(folder, replicas) as database_url:
        if prompts:
            _seed(database_url, prompts)
        env = {
            "PROMPTSTAGE_DATABASE_URL": database_url,
            "PROMPTSTAGE_ADMIN_KEY": admin,
            "PROMPTSTAGE_LOG_LEVEL": "warning",
            # The moves measured here carry no eval evidence: the gate (default on) would refuse.
            "PROMPTSTAGE_EVAL_GATE": "0",
        }
        with contextlib.ExitStack() as stack:
            # One after another: the first migrates the database, the others find it migrated.
            servers = [
                stack.enter_context(c.Server("promptstage", env=env, folder=folder))
                for _ in range(replicas)
            ]
            ports = [server.port for server in servers]
            http = c.Http(ports[0], admin)
            token, v1, v2 = _setup(http, seeded=prompts > 0)
            ctx = mp.get_context("spawn")
            pipes, workers = [], []
            per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
            init_timeout = 30.0 + prompts / 1_000  # a 100,000-prompt snapshot per client
            started = time.monotonic()
            for i, n in enumerate(per):
                url = f"http://127.0.0.1:{ports[i % replicas]}"
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_worker,
                    args=(url, token, n, init_timeout, share, child),
                    daemon=True,
                )
                proc.start()
                pipes.append(parent)
                workers.append(proc)

            def streams_open() -> int:
                return sum(_sse_clients(port, admin) for port in ports)

            try:
                ready = sum(p.recv()[1] for p in pipes)
                deadline = time.monotonic() + 30
                expected = clients if not share else procs  # one feed per process when shared
                while streams_open() < expected and time.monotonic() < deadline:
                    time.sleep(0.05)
                streams = streams_open()
                c.log(
                    f"{ready}/{clients} clients loaded the snapshot, {streams} streams open on "
                    f"{replicas} replica(s) ({time.monotonic() - started:.1f} s)"
                )
                delays: list[float] = []
                fanout: list[float] = []  # after the first client of the same move was served
                missed = 0
                per_move: list[float] = []
                put_rtt: list[float] = []
                path = f"/api/v1/projects/{PROJECT}/prompts/{PROMPT}/labels/{LABEL}"
                for i in range(moves):
                    target, current = (v2, v1) if i % 2 == 0 else (v1, v2)
                    http = _warm(http, ports[0], admin)  # the PUT goes on a live connection
                    t0 = time.monotonic()
                    http.json("PUT", path, {"version": target, "expected_version": current})
                    put_rtt.append(time.monotonic() - t0)
                    for p in pipes:
                        p.send(("expect", target, t0))
                    got: list[float | None] = []
                    for p in pipes:
                        got.extend(p.recv()[1])
                    ok = [d for d in got if d is not None]
                    missed += len(got) - len(ok)
                    delays.extend(ok)
                    fanout.extend(d - min(ok) for d in ok)
                    per_move.append(c.percentile(ok, 50))
                    c.log(
                        f"move {i + 1}/{moves} -> v{target}: p50 {c.percentile(ok, 50) * 1e3:.1f} ms, "
                        f"max {max(ok, default=float('nan')) * 1e3:.1f} ms, missed {len(got) - len(ok)}"
                    )
                    time.sleep(0.2)  # space the moves apart (each is measured on its own)
            finally:
                for p in pipes:
                    with contextlib.suppress(OSError):
                        p.send(("stop",))
                for proc in workers:
                    proc.join(timeout=10)
                    if proc.is_alive():
                        proc.terminate()
                http.close()
    return {
        "clients": clients,
        "procs": procs,
        "moves": moves,
        "replicas": replicas,
        "share": share,
        "prompts": prompts or 1,
        "streams": streams,
        "samples": len(delays),
        "missed": missed,
        "p50_ms": c.percentile(delays, 50) * 1e3,
        "p99_ms": c.percentile(delays, 99) * 1e3,
        "max_ms": max(delays, default=float("nan")) * 1e3,
        "fanout_p50_ms": c.percentile(fanout, 50) * 1e3,
        "fanout_p99_ms": c.percentile(fanout, 99) * 1e3,
        "fanout_max_ms": max(fanout, default=float("nan")) * 1e3,
        "move_p50_spread_ms": [x * 1e3 for x in per_move],
        "put_p50_ms": c.percentile(put_rtt, 50) * 1e3,
        "put_p99_ms": c.percentile(put_rtt, 99) * 1e3,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=200, help="SDK clients in total (200)")
    parser.add_argument("--procs", type=int, default=4, help="worker processes (4)")
    parser.add_argument(
        "--moves", type=int, default=10, help="label moves, alternating versions (10)"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="server processes on one Postgres database (1)"
    )
    parser.add_argument(
        "--prompts", type=int, default=0, help="bulk-seed the project to this many prompts first"
    )
    parser.add_argument(
        "--no-share",
        action="store_true",
        help="each client its own feed (state, snapshot, stream); by default the clients of a "
        "process share one, as the SDK does",
    )
    args = parser.parse_args(argv)
    if args.replicas < 1 or args.procs < 1 or args.clients < args.procs:
        parser.error("needs --replicas >= 1, --procs >= 1 and --clients >= --procs")
    print(c.machine())
    out = run(args.clients, args.procs, args.moves, args.replicas, args.prompts, not args.no_share)
    met = out["p50_ms"] <= GOAL_P50_MS and out["p99_ms"] <= GOAL_P99_MS and out["missed"] == 0
    c.print_table(
        f"Propagation: {out['clients']} clients over {out['procs']} processes and "
        f"{out['replicas']} replica(s), {out['prompts']:,} prompts, {out['moves']} moves, "
        f"{'one feed per process' if out['share'] else 'a feed per client'} "
        f"({out['samples']} client-moves, {out['missed']} missed, {out['streams']} streams open)",
        ["measure", "p50 ms", "p99 ms", "max ms", "goal", "met"],
        [
            [
                "PUT label round trip (baseline)",
                c.fmt(out["put_p50_ms"]),
                c.fmt(out["put_p99_ms"]),
                "-",
                "-",
                "-",
            ],
            [
                "PUT sent -> client serves new version",
                c.fmt(out["p50_ms"]),
                c.fmt(out["p99_ms"]),
                c.fmt(out["max_ms"]),
                f"p50 <= {GOAL_P50_MS:g}, p99 <= {GOAL_P99_MS:g}",
                "yes" if met else "no",
            ],
            [
                "(spread: first client served -> each client served)",
                c.fmt(out["fanout_p50_ms"]),
                c.fmt(out["fanout_p99_ms"]),
                c.fmt(out["fanout_max_ms"]),
                "-",
                "-",
            ],
        ],
    )
    print("per-move p50 (ms): " + ", ".join(c.fmt(x) for x in out["move_p50_spread_ms"]))


if __name__ == "__main__":
    main()
