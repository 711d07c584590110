"""Server rows of issue 16 (scale): 100, 10,000 and 100,000 prompts, each beside a same-run baseline.

For each size a SQLite project is bulk-seeded (``bench_snapshot.seed_bulk``: prompts, versions,
labels, label history, hash-chained audit rows and outbox events, row for row what the service
writes; ``--versions`` per prompt, 3 by default so 100,000 prompts seed in minutes) and measured:

in a fresh process (``--worker``):

- cold ``build_state()``: wall and CPU seconds; baseline: ``uow.snapshot_rows`` alone (the store
  read every build needs, the floor of a build);
- ``StateCache`` refresh after a label move (``cache.get``: the move's event read and applied),
  and ``apply_events`` alone on the same event; baseline: copying a dict of one entry per prompt
  (what any whole-project copy costs);
- the full ``/snapshot`` body re-assembled from the cached per-prompt fragments after a move
  (lazy: only the first full ``200`` after a change pays it); baseline: the same dict copy;
- a full pass of the cyclic garbage collector with the state held (the cache freezes the heap
  after a cold build from ``FREEZE_AT`` prompts); baseline: the same pass with nothing frozen;
  and what settling (unfreeze, collect, freeze) adds to a cold build;

against a real server process (uvicorn, 1 worker):

- worker memory: resident set (VmRSS) after the project is loaded and its body served, and
  the peak (VmHWM); baseline: the same process before it loaded the project;
- ``GET .../resolve`` CPU per request (server CPU from /proc over a Python keep-alive load
  generator), the fast path, and the FastAPI route (``render=false`` takes the route, same
  answer); baselines: a bare ASGI hello app, and a bare ASGI app answering the same request
  with resolve's recorded answer (status, headers, body: the server's own floor for this
  exchange), in the same run. Goal: resolve >= 50 % of the hello requests/s on the same worker
  count, i.e. CPU per request <= 2x hello's; the table also gives the app's share of resolve
  (resolve - floor) and what the goal leaves it (2x hello - floor).

Usage::

    .venv/bin/python benchmarks/bench_scale_server.py                      # 100, 10,000, 100,000
    .venv/bin/python benchmarks/bench_scale_server.py --sizes 100 10000 --duration 2
    .venv/bin/python benchmarks/bench_scale_server.py --folder /tmp/scale  # keep (and reuse) seeds
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import bench_http
import bench_snapshot as bs

PROJECT = bs.PROJECT


def db_url(folder: Path, prompts: int, versions: int) -> str:
    return c.sqlite_url(folder, f"scale-{prompts}x{versions}.db")


def seed(folder: Path, prompts: int, versions: int) -> float | None:
    """Seed the size's database unless a finished one is there; the seconds it took."""
    done = folder / f"scale-{prompts}x{versions}.done"
    if done.exists():
        return None
    (folder / f"scale-{prompts}x{versions}.db").unlink(missing_ok=True)
    store, ctx = c.open_context(db_url(folder, prompts, versions))
    try:
        t0 = time.perf_counter()
        bs.seed_bulk(store, ctx, prompts, versions, datetime.now(UTC) - timedelta(days=1))
        seconds = time.perf_counter() - t0
    finally:
        store.close()
    done.write_text("seeded\n")
    return seconds


def _timed(fn: Any) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def worker(url: str, prompts: int, versions: int) -> dict[str, float]:
    from promptstage.service.labels import move_label
    from promptstage.service.snapshot import StateCache, build_state, settle
    from promptstage.service.snapshot_delta import MAX_DELTA_EVENTS, apply_events

    store, ctx = c.open_context(url)
    try:
        big = prompts > 20_000
        out: dict[str, float] = {}
        names = {
            bs.prompt_name(i): {"prod": versions - 1, "staging": versions} for i in range(prompts)
        }
        out["dict_copy_ms"] = c.median(
            [_timed(lambda: dict(names))[0] * 1e3 for _ in range(5 if big else 21)]
        )

        def rows() -> None:
            with store.unit_of_work() as uow:
                uow.snapshot_rows(PROJECT)

        rows()  # warm: statement caches, page cache
        out["rows_s"] = c.median([_timed(rows)[0] for _ in range(1 if big else 3)])
        builds = [_timed(lambda: build_state(ctx, PROJECT)) for _ in range(2 if big else 5)]
        out["build_s"] = c.median([w for w, _ in builds])
        out["build_cpu_s"] = c.median([p for _, p in builds])
        gc.collect()

        cache = StateCache(ctx, check_seconds=3600)
        state = cache.get(PROJECT)
        _ = state.body
        target = bs.prompt_name(prompts // 2)
        refresh, apply, assemble = [], [], []
        for _ in range(11 if big else 41):
            now = state.prompts[target].labels["prod"]
            move_label(
                ctx,
                "bench",
                PROJECT,
                target,
                "prod",
                versions - 1 if now != versions - 1 else versions - 2,
            )
            with store.unit_of_work() as uow:
                events = uow.events_since(PROJECT, state.seq, limit=MAX_DELTA_EVENTS + 1)
            t0 = time.perf_counter()
            moved = apply_events(state, events)
            apply.append(time.perf_counter() - t0)
            assert moved is not None
            t0 = time.perf_counter()
            state = cache.get(PROJECT)
            refresh.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            _ = state.body
            assemble.append(time.perf_counter() - t0)
        out["apply_us"] = c.median(apply[1:]) * 1e6
        out["refresh_ms"] = c.median(refresh[1:]) * 1e3
        out["assemble_ms"] = c.median(assemble[1:]) * 1e3
        out["body_mb"] = len(state.body) / 1e6
        # A full pass of the cyclic collector with the state held: what the server pays now
        # (from FREEZE_AT prompts the cache froze the heap after the build), and what it paid
        # (given back to the collector); then what settling costs a cold build.
        t0 = time.perf_counter()
        gc.collect()
        out["gc_full_ms"] = (time.perf_counter() - t0) * 1e3
        gc.unfreeze()
        t0 = time.perf_counter()
        gc.collect()
        out["gc_unfrozen_ms"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        settle(state)
        out["settle_ms"] = (time.perf_counter() - t0) * 1e3
        return out
    finally:
        store.close()


def memory_kb(pid: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def http_figures(url: str, prompts: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    token = c.admin_token()
    env = {
        "PROMPTSTAGE_DATABASE_URL": url,
        "PROMPTSTAGE_ADMIN_KEY": token,
        "PROMPTSTAGE_LOG_LEVEL": "warning",
    }
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/projects/{PROJECT}"
    resolve = f"{base}/prompts/{bs.prompt_name(prompts // 2)}/resolve?label=prod&unit=user-42&channel=whatsapp"
    out: dict[str, Any] = {}
    replay = folder / f"replay-{prompts}.json"
    with (
        c.Server("promptstage", env=env, folder=folder) as server,
        c.Server("hello", folder=folder) as hello,
    ):
        pid = server.pids[-1]  # one worker: uvicorn serves in its own process
        client = c.Http(server.port, token)
        client.conn.timeout = (
            900  # the first read builds the state: minutes at 100,000 on a busy machine
        )
        try:
            status, _, _ = client.request("GET", "/health")
            before = memory_kb(pid)
            status, _, _ = client.request("GET", f"{base}/snapshot")
            if status != 200:
                raise RuntimeError(f"GET /snapshot -> {status}")
            status, body, headers = client.request("GET", resolve, headers=auth)
            if status != 200:
                raise RuntimeError(f"GET resolve -> {status}")
            loaded = memory_kb(pid)
        finally:
            client.close()
        # The floor of this exchange: a bare ASGI app sending resolve's own answer (uvicorn adds
        # its date and server headers to both).
        sent = [[k, v] for k, v in headers.items() if k not in ("date", "server")]
        replay.write_text(
            json.dumps({"status": 200, "headers": sent, "body": body.decode("latin-1")})
        )
        out["rss_idle_mb"] = before["VmRSS"] / 1024
        out["rss_mb"] = loaded["VmRSS"] / 1024
        out["hwm_mb"] = loaded["VmHWM"] / 1024
        with c.Server("replay", env={"BENCH_REPLAY": str(replay)}, folder=folder) as floor:
            out.update(cpu_per_request(server, hello, floor, resolve, auth, args))
    return out


def cpu_per_request(
    server: c.Server,
    hello: c.Server,
    floor: c.Server,
    resolve: str,
    auth: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Server CPU µs per request of each target, the median of ``args.rounds`` rounds."""
    targets = {
        "hello": (hello, "/", {}),
        "floor": (floor, resolve, auth),
        "resolve": (server, resolve, auth),
        "resolve_route": (server, resolve + "&render=false", auth),
    }
    for _, (srv, path, headers) in targets.items():  # warm up
        bench_http.run_python(srv.port, path, headers, 0.5, args.connections, args.processes)
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (srv, path, headers) in targets.items():
            pids = srv.pids
            cpu0 = bench_http.cpu_seconds(pids)
            rps, bad = bench_http.run_python(
                srv.port, path, headers, args.duration, args.connections, args.processes
            )
            cpu = bench_http.cpu_seconds(pids) - cpu0
            if bad:
                raise RuntimeError(f"{name}: {bad} answers were not 2xx/3xx")
            samples[name].append(cpu / (rps * args.duration) * 1e6)
    return {f"{name}_cpu_us": c.median(values) for name, values in samples.items()}


FIGURES = [
    ("build_s", "cold build_state(), wall", "s", "<= 5 s at 100,000 (quiet machine)"),
    ("build_cpu_s", "cold build_state(), CPU", "s", None),
    ("rows_s", "baseline: uow.snapshot_rows alone", "s", None),
    ("refresh_ms", "StateCache.get() after a move", "ms", "O(changed prompt): flat"),
    ("apply_us", "apply_events() of the move alone", "µs", "flat"),
    ("assemble_ms", "full body from fragments after a move (lazy)", "ms", "once per change burst"),
    ("dict_copy_ms", "baseline: copy a dict of one entry per prompt", "ms", None),
    ("body_mb", "snapshot body", "MB", None),
    ("gc_full_ms", "a full cyclic-GC pass, the state held (frozen from 10,000)", "ms", "no pause"),
    ("gc_unfrozen_ms", "baseline: the same pass, the state not frozen", "ms", None),
    ("settle_ms", "settling the heap after a cold build (unfreeze, collect, freeze)", "ms", None),
    ("rss_mb", "server worker RSS, project loaded + body served", "MB", "<= 1 GB at 100,000"),
    ("hwm_mb", "server worker peak RSS (VmHWM)", "MB", None),
    ("rss_idle_mb", "baseline: the same worker before loading", "MB", None),
    ("resolve_cpu_us", "HTTP resolve, CPU per request (fast path)", "µs", "<= 2x hello"),
    ("resolve_route_cpu_us", "HTTP resolve via the FastAPI route", "µs", None),
    ("hello_cpu_us", "baseline: bare ASGI hello, CPU per request", "µs", None),
    (
        "floor_cpu_us",
        "baseline: bare ASGI app sending resolve's answer, same request",
        "µs",
        None,
    ),
    ("app_cpu_us", "resolve's app work over HTTP (resolve - that floor)", "µs", None),
    ("budget_cpu_us", "what the goal leaves the app (2x hello - that floor)", "µs", None),
]


def shape(values: list[float], sizes: list[int]) -> str:
    """flat (< 2x over the range), linear (grows no faster than the size), or worse."""
    lo, hi = values[0], values[-1]
    if lo <= 0:
        return "n/a"
    growth, scale = hi / lo, sizes[-1] / sizes[0]
    if growth < 2:
        return "flat"
    return "linear" if growth <= scale * 1.5 else "worse"


def report(results: dict[int, dict[str, Any]], sizes: list[int]) -> None:
    for s in sizes:
        r = results[s]
        if "resolve_cpu_us" in r:
            r["resolve_share"] = r["hello_cpu_us"] / r["resolve_cpu_us"]
            r["app_cpu_us"] = r["resolve_cpu_us"] - r["floor_cpu_us"]
            r["budget_cpu_us"] = 2 * r["hello_cpu_us"] - r["floor_cpu_us"]
    rows = []
    for key, label, unit, goal in FIGURES:
        values = [float(results[s][key]) for s in sizes if key in results[s]]
        if len(values) != len(sizes):
            continue
        rows.append(
            [f"{label} ({unit})", *[c.fmt(v) for v in values], shape(values, sizes), goal or ""]
        )
    shares = [results[s].get("resolve_share") for s in sizes]
    if all(v is not None for v in shares):
        rows.append(
            ["resolve rps as a share of hello's", *[f"{v:.0%}" for v in shares], "", ">= 50 %"]
        )
    c.print_table(
        "Scale: server (issue 16)", ["figure", *[f"{s:,}" for s in sizes], "shape", "goal"], rows
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None, help="keep and reuse seeded databases")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.prompts, args.versions)))
        return
    print(c.machine())
    with c.tempdir() as tmp:
        folder = args.folder or tmp
        folder.mkdir(parents=True, exist_ok=True)
        results: dict[int, dict[str, Any]] = {}
        for prompts in args.sizes:
            url = db_url(folder, prompts, args.versions)
            c.log(f"{prompts} prompts: seeding")
            seeded = seed(folder, prompts, args.versions)
            c.log(f"{prompts} prompts: service figures")
            figures = c.run_fresh(
                Path(__file__),
                ["--worker", url, "--prompts", str(prompts), "--versions", str(args.versions)],
                timeout=1800,
            )
            if seeded is not None:
                figures["seed_s"] = seeded
            if not args.no_http:
                c.log(f"{prompts} prompts: HTTP")
                figures.update(http_figures(url, prompts, args, folder))
            results[prompts] = figures
            if args.json:  # after each size, so a failure later keeps what was measured
                args.json.write_text(json.dumps(results, indent=2))
        report(results, args.sizes)


if __name__ == "__main__":
    main()
