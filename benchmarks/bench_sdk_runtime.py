"""The SDK's runtime costs (SPEC §11), each beside a baseline measured in the same run.

1. ``call()`` on the caller's thread (goal <= 10 µs) beside ``deque.append`` of a small tuple.
   Fresh processes; the client holds a bootstrap snapshot, its sender never wakes, so only the
   caller's cost is timed.
2. Call ingest into Postgres through ``POST /calls`` in batches of 500 (goal >= 20,000
   records/s), from one sender and from four concurrent senders, against a ``promptstage``
   server on a fresh Postgres database; baseline: a raw psycopg ``executemany`` ``INSERT`` of
   the same rows into the same table, one transaction per 500. The benchmark server runs with
   its per-key write rate limits off (they would cap any ingest benchmark at 600 requests/min).
3. Cold start from the last-known-good file with the server down (goal <= 50 ms from
   ``Client(...)`` to the first ``get``), in fresh processes; baseline: reading and
   ``json.loads`` of the same file.
5. OpenTelemetry on ``call()`` (goal: at most 5 µs added per call), in fresh processes, every
   variant interleaved in the same process: ``otel="off"`` (the baseline); ``"span"`` with only
   the API (no provider configured); ``"span"`` into the OTel SDK (a ``TracerProvider`` with a
   ``BatchSpanProcessor`` whose exporter drops the spans, so the caller's cost is timed), with
   and without the Langfuse/OpenInference attributes, and with a 10 % ``ParentBased`` sampler;
   ``"current"`` under a recording span;
   and, as the floor any OTel span costs, the SDK's own ``start_span(...)``/``end()`` with the
   same attributes and no promptstage at all.
4. Footprint of the SDK-only install (goal: import <= 100 ms, RSS after import <= 40 MiB): a
   throwaway venv in a tempdir gets ``pip install`` of this repository without extras (httpx
   and mmh3 only); ``import promptstage; from promptstage import Client`` is timed in fresh
   processes (in-process clock, ``-X importtime``, and the whole process beside ``python -c
   pass``), and VmRSS after the import beside ``python -c pass``.

::

    .venv/bin/python benchmarks/bench_sdk_runtime.py                   # everything (~2 min)
    .venv/bin/python benchmarks/bench_sdk_runtime.py --only call,coldstart
    .venv/bin/python benchmarks/bench_sdk_runtime.py --only otel
    .venv/bin/python benchmarks/bench_sdk_runtime.py --only footprint --wheelhouse /tmp/wh
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import timeit
import venv
from collections import deque
from contextlib import nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "clinic"
CALL_GOAL_NS = 10_000
INGEST_GOAL = 20_000
COLDSTART_GOAL_MS = 50.0
IMPORT_GOAL_MS = 100.0
RSS_GOAL_MIB = 40.0
OTEL_GOAL_NS = 5_000


# 1. call() overhead ----------------------------------------------------------------------------
def _call_worker(number: int) -> dict[str, float]:
    """ns/op of call() variants and the deque baseline, in this (fresh) process."""
    import httpx
    from bench_sdk_get import bootstrap

    from promptstage import Client

    snap = bootstrap()
    ps = Client(
        "http://bench.invalid",
        PROJECT,
        "ps_bench_secret",
        bootstrap=snap,
        stream=False,
        poll_interval=3600.0,
        transport=httpx.MockTransport(lambda r: httpx.Response(503)),
        queue_size=number * 4,
        batch_size=10**9,
        flush_interval=3600.0,
        close_timeout=0.0,
    )
    p = ps.get("booking.system", "prod", "user-42", {"channel": "whatsapp", "vertical": "dental"})
    q: deque[tuple[Any, ...]] = deque()
    env = {
        "append": q.append,
        "item": ("call", "id", 1.0, p),
        "call": ps.call,
        "score": ps.score,
        "p": p,
        "v": {"clinic": "Smile Dental"},
        "cid": "0" * 32,
    }
    stmts = {
        "deque.append((...)) (baseline)": "append(item)",
        "with call(p): pass": "with call(p): pass",
        "with call(p, variables=v) as c: c.finish(...)": (
            "with call(p, variables=v) as c: c.finish(output='ok', tokens_in=812, tokens_out=95)"
        ),
        "score(call_id, 'csat', 4)": "score(cid, 'csat', 4)",
    }
    out = {}
    try:
        for name, stmt in stmts.items():
            timer = timeit.Timer(stmt, globals=env)
            timer.timeit(1000)  # warm-up
            ps._outbox.take(10**9)
            q.clear()
            out[name] = timer.timeit(number) / number * 1e9
            ps._outbox.take(10**9)
            q.clear()
    finally:
        ps.close(timeout=0.0)
    return out


def bench_call(repeat: int, number: int) -> None:
    runs = [
        c.run_fresh(Path(__file__), ["--worker", "call", "--number", str(number)])
        for _ in range(repeat)
    ]
    names = list(runs[0])
    base = c.median([r[names[0]] for r in runs])
    rows = []
    for name in names:
        values = [r[name] for r in runs]
        med = c.median(values)
        is_base = name == names[0]
        rows.append(
            [
                name,
                c.fmt(med),
                c.spread(values),
                f"{med / base:.1f}",
                "-" if is_base else f"<= {CALL_GOAL_NS:,}",
                "-" if is_base else ("yes" if med <= CALL_GOAL_NS else "no"),
            ]
        )
    c.print_table(
        f"call() on the caller's thread: median of {repeat} fresh processes x {number:,} ops",
        ["operation", "median ns/op", "min-max", "x baseline", "goal ns", "met"],
        rows,
    )


# 5. OpenTelemetry on call() ---------------------------------------------------------------------
_OTEL_STMT = "with call(p) as c: c.finish(output='ok', tokens_in=812, tokens_out=95)"


def _otel_worker(number: int, rounds: int = 5) -> dict[str, float]:
    """ns/op of call() with each OpenTelemetry variant (best of ``rounds`` interleaved)."""
    import httpx
    from bench_sdk_get import bootstrap
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    from promptstage import Client

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=number * 4))
    sampled = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1)))
    sampled.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=number * 4))
    snap = bootstrap()

    def client(**otel: Any) -> Client:
        return Client(
            "http://bench.invalid",
            PROJECT,
            "ps_bench_secret",
            bootstrap=snap,
            cache_path=None,
            stream=False,
            poll_interval=3600.0,
            transport=httpx.MockTransport(lambda r: httpx.Response(503)),
            queue_size=number * 4 * rounds,
            batch_size=10**9,
            flush_interval=3600.0,
            close_timeout=0.0,
            **otel,
        )

    compat = ["langfuse", "openinference"]
    clients = {
        "otel='off' (baseline)": client(otel="off"),
        "otel='span', API only (no provider)": client(otel="span"),
        "otel='span' into the OTel SDK": client(otel="span", otel_tracer_provider=provider),
        "otel='span' + otel_compat (both)": client(
            otel="span", otel_tracer_provider=provider, otel_compat=compat
        ),
        "otel='span' into the OTel SDK, 10 % sampled": client(
            otel="span", otel_tracer_provider=sampled
        ),
        "otel='current' under a recording span": client(
            otel="current", otel_tracer_provider=provider
        ),
    }
    tracer = provider.get_tracer("bench")
    p0 = next(iter(clients.values())).get("booking.system", "prod", "user-42")
    attrs = clients["otel='span' into the OTel SDK"]._recorder.tracing
    assert attrs is not None
    same = attrs.attributes(next(iter(clients.values())).call(p0))
    timers: dict[str, timeit.Timer] = {}
    for name, ps in clients.items():
        p = ps.get("booking.system", "prod", "user-42")
        timers[name] = timeit.Timer(_OTEL_STMT, globals={"call": ps.call, "p": p})
    timers["OTel SDK start_span()+end() alone (floor)"] = timeit.Timer(
        "t.start_span('promptstage.call', attributes=a).end()", globals={"t": tracer, "a": same}
    )
    best: dict[str, float] = {}
    try:
        for _ in range(rounds):
            for name, timer in timers.items():
                # Only the 'current' variant runs under a span of the application's.
                under = tracer.start_as_current_span("app") if "current" in name else nullcontext()
                with under:
                    timer.timeit(500)
                    ns = timer.timeit(number) / number * 1e9
                best[name] = min(ns, best.get(name, ns))
                for ps in clients.values():
                    ps._outbox.take(10**9)
    finally:
        for ps in clients.values():
            ps.close(timeout=0.0)
        provider.shutdown()
        sampled.shutdown()
    return best


def bench_otel(repeat: int, number: int) -> None:
    runs = [
        c.run_fresh(Path(__file__), ["--worker", "otel", "--number", str(number)])
        for _ in range(repeat)
    ]
    names = list(runs[0])
    base = c.median([r[names[0]] for r in runs])
    floor_name = names[-1]
    rows = []
    for name in names:
        values = [r[name] for r in runs]
        added = [r[name] - r[names[0]] for r in runs]
        med_added = c.median(added)
        is_base = name in (names[0], floor_name)
        rows.append(
            [
                name,
                c.fmt(c.median(values)),
                c.spread(values),
                "-" if name == names[0] else c.fmt(med_added),
                f"{c.median(values) / base:.1f}",
                "-" if is_base else f"<= {OTEL_GOAL_NS:,}",
                "-" if is_base else ("yes" if med_added <= OTEL_GOAL_NS else "no"),
            ]
        )
    c.print_table(
        f"call() with OpenTelemetry: median of {repeat} fresh processes, each the best of 5 "
        f"interleaved rounds x {number:,} ops",
        ["variant", "median ns/op", "min-max", "added ns", "x baseline", "goal added", "met"],
        rows,
    )


# 2. ingest into Postgres -----------------------------------------------------------------------
_CALL_COLUMNS = (
    "id",
    "project",
    "prompt",
    "label",
    "version",
    "digest",
    "release_id",
    "arm",
    "unit_hash",
    "context",
    "variables",
    "output",
    "model",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost",
    "error",
    "at",
)


def _records(prefix: str, n: int, digest: str) -> list[dict[str, Any]]:
    """``n`` call records shaped like the SDK's (``promptstage.sdk.wire``)."""
    at = "2026-11-26T17:00:00.000000Z"
    return [
        {
            "id": f"{prefix}{i:08d}",
            "at": at,
            "prompt": "booking.system",
            "label": "prod",
            "version": 1,
            "digest": digest,
            "release_id": None,
            "arm": "baseline",
            "unit_hash": f"{i:032x}",
            "context": {"channel": "whatsapp", "tenant": "acme"},
            "variables": {"clinic": "Smile Dental", "question": "Can I come on Tuesday at 10?"},
            "output": "Tuesday 10:00 works. Shall I book it for you?",
            "model": "gpt-4o-2024-08-06",
            "latency_ms": 812.5,
            "tokens_in": 812,
            "tokens_out": 95,
            "cost": 0.0031,
            "error": None,
        }
        for i in range(n)
    ]


def _post_batches(port: int, token: str, bodies: list[bytes]) -> None:
    """POST each pre-encoded body on one keep-alive connection; raise unless 202."""
    http = c.Http(port, token)
    headers = {**http.headers, "Content-Type": "application/json"}
    path = f"/api/v1/projects/{PROJECT}/calls"
    try:
        for body in bodies:
            http.conn.request("POST", path, body=body, headers=headers)
            resp = http.conn.getresponse()
            data = resp.read()
            if resp.status != 202:
                raise RuntimeError(f"POST /calls -> {resp.status}: {data[:300]!r}")
    finally:
        http.close()


def _bodies(prefix: str, n: int, batch_size: int, digest: str) -> list[bytes]:
    """The ``POST /calls`` bodies of ``n`` records, ``batch_size`` per body."""
    records = _records(prefix, n, digest)
    return [
        json.dumps({"calls": records[i : i + batch_size]}, separators=(",", ":")).encode()
        for i in range(0, n, batch_size)
    ]


def _raw_insert(pg_url: str, batches: list[list[dict[str, Any]]]) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    sql = (
        f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(_CALL_COLUMNS))})"
    )
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for batch in batches:
            rows = [
                tuple(
                    Jsonb(r[k])
                    if k in ("context", "variables", "output") and r[k] is not None
                    else (PROJECT if k == "project" else r[k])
                    for k in _CALL_COLUMNS
                )
                for r in batch
            ]
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, rows)


def bench_ingest(rounds: int, batches: int, batch_size: int, workers: int = 1) -> None:
    with c.postgres_database() as pg_url:
        if pg_url is None:
            print("\nIngest: skipped (Postgres unreachable at PROMPTSTAGE_BENCH_POSTGRES_URL)")
            return
        admin = c.admin_token()
        with c.tempdir() as folder:
            env = {
                "PROMPTSTAGE_DATABASE_URL": pg_url,
                "PROMPTSTAGE_ADMIN_KEY": admin,
                "PROMPTSTAGE_LOG_LEVEL": "warning",
                "PROMPTSTAGE_RATE_LIMIT_WRITES_PER_KEY": "0",
                "PROMPTSTAGE_RATE_LIMIT_WRITES_PER_IP": "0",
            }
            with c.Server("promptstage", env=env, folder=folder, workers=workers) as server:
                http = c.Http(server.port, admin)
                http.json("POST", "/api/v1/projects", {"name": PROJECT}, expect=201)
                base = f"/api/v1/projects/{PROJECT}"
                http.json(
                    "POST",
                    f"{base}/prompts",
                    {"name": "booking.system", "type": "text"},
                    expect=201,
                )
                digest = http.json(
                    "POST",
                    f"{base}/prompts/booking.system/versions",
                    {
                        "template": "Book for {{ clinic }}.",
                        "config": {
                            "model": {
                                "provider": "openai",
                                "name": "gpt-4o",
                                "version": "2024-08-06",
                            }
                        },
                    },
                    expect=201,
                )["digest"]
                token = http.json("POST", f"{base}/keys", {"role": "runtime"}, expect=201)["token"]
                http.close()
                n = batches * batch_size
                results: dict[str, list[float]] = {"raw": [], "one": [], "four": []}
                for r in range(rounds + 1):  # round 0 warms up (connections, caches)
                    raw = _records(f"raw{r}-", n, digest)
                    raw_batches = [raw[i : i + batch_size] for i in range(0, n, batch_size)]
                    t0 = time.perf_counter()
                    _raw_insert(pg_url, raw_batches)
                    raw_s = time.perf_counter() - t0

                    bodies = _bodies(f"one{r}-", n, batch_size, digest)
                    t0 = time.perf_counter()
                    _post_batches(server.port, token, bodies)
                    one_s = time.perf_counter() - t0

                    four = _bodies(f"four{r}-", n, batch_size, digest)
                    threads = [
                        threading.Thread(
                            target=_post_batches, args=(server.port, token, four[k::4])
                        )
                        for k in range(4)
                    ]
                    t0 = time.perf_counter()
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    four_s = time.perf_counter() - t0
                    if r:
                        results["raw"].append(n / raw_s)
                        results["one"].append(n / one_s)
                        results["four"].append(n / four_s)
                    c.log(
                        f"ingest round {r}: raw {n / raw_s:,.0f}/s, one sender {n / one_s:,.0f}/s, "
                        f"four senders {n / four_s:,.0f}/s"
                    )
    raw_med = c.median(results["raw"])
    rows = [
        [
            "raw psycopg executemany INSERT (baseline)",
            c.fmt(raw_med),
            c.spread(results["raw"]),
            "1.00",
            "-",
            "-",
        ]
    ]
    for key, name in (
        ("one", "POST /calls, 1 sender"),
        ("four", "POST /calls, 4 concurrent senders"),
    ):
        med = c.median(results[key])
        rows.append(
            [
                name,
                c.fmt(med),
                c.spread(results[key]),
                f"{med / raw_med:.2f}",
                f">= {INGEST_GOAL:,}",
                "yes" if med >= INGEST_GOAL else "no",
            ]
        )
    c.print_table(
        f"Call ingest into Postgres: median of {rounds} rounds x {batches * batch_size:,} records "
        f"in batches of {batch_size}, server with {workers} uvicorn worker(s)",
        ["path", "records/s", "min-max", "x baseline", "goal", "met"],
        rows,
    )


# 3. cold start from the last-known-good file ---------------------------------------------------
def _coldstart_worker(path: str, url: str) -> dict[str, float]:
    t0 = time.perf_counter()
    from promptstage import Client

    t1 = time.perf_counter()
    ps = Client(
        url, PROJECT, "ps_bench_secret", cache_path=path, init_timeout=2.0, close_timeout=0.0
    )
    p = ps.get("booking.system", "prod", "user-42", {"channel": "whatsapp", "vertical": "dental"})
    t2 = time.perf_counter()
    assert p.version is not None and ps.status().source == "lkg"
    t3 = time.perf_counter()
    json.loads(Path(path).read_bytes())
    t4 = time.perf_counter()
    ps.close(timeout=0.0)
    return {
        "import_ms": (t1 - t0) * 1e3,
        "first_get_ms": (t2 - t1) * 1e3,
        "file_ms": (t4 - t3) * 1e3,
    }


def bench_coldstart(repeat: int) -> None:
    from bench_sdk_get import bootstrap

    from promptstage.sdk.lkg import write_lkg

    with c.tempdir() as folder:
        path = folder / "lkg.json"
        snap = bootstrap()
        write_lkg(path, snap, f'"{snap["seq"]}"')
        down = f"http://127.0.0.1:{c.free_port()}"  # nothing listens there
        runs = [
            c.run_fresh(
                Path(__file__), ["--worker", "coldstart", "--path", str(path), "--url", down]
            )
            for _ in range(repeat)
        ]
        size = path.stat().st_size
    first = [r["first_get_ms"] for r in runs]
    base = [r["file_ms"] for r in runs]
    imp = [r["import_ms"] for r in runs]
    med = c.median(first)
    c.print_table(
        f"Cold start from the last-known-good file, server down: median of {repeat} fresh processes "
        f"({len(snap['prompts'])} prompts, {size / 1024:.0f} KiB file)",
        ["measure", "median ms", "min-max", "goal", "met"],
        [
            [
                "read + json.loads of the file (baseline)",
                c.fmt(c.median(base)),
                c.spread(base),
                "-",
                "-",
            ],
            [
                "Client(cache_path=...) -> first get",
                c.fmt(med),
                c.spread(first),
                f"<= {COLDSTART_GOAL_MS:g}",
                "yes" if med <= COLDSTART_GOAL_MS else "no",
            ],
            [
                "(import promptstage + Client, before it)",
                c.fmt(c.median(imp)),
                c.spread(imp),
                "-",
                "-",
            ],
        ],
    )


# 4. footprint of the SDK-only install -----------------------------------------------------------
_IMPORT_PROGRAM = (
    "import time; t = time.perf_counter(); import promptstage; from promptstage import Client; "
    "t = time.perf_counter() - t; import json, sys, re; "
    "rss = int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); "
    "bad = [m for m in ('sqlalchemy', 'fastapi', 'pydantic', 'jinja2', 'starlette', 'uvicorn') "
    "if m in sys.modules]; print(json.dumps({'ms': t * 1e3, 'rss_kib': rss, 'server_libs': bad}))"
)
_PASS_PROGRAM = (
    "import json, re; print(json.dumps({'rss_kib': int(re.search(r'VmRSS:\\s+(\\d+)', "
    "open('/proc/self/status').read()).group(1))}))"
)


def _sdk_venv(folder: Path, wheelhouse: str | None) -> Path:
    """A venv with ``pip install <copy of this repo>`` (no extras); returns its python."""
    src = folder / "promptstage-src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(c.ROOT / name, src / name)
    # Only the package sources: no build/ or egg-info lands in the repository.
    shutil.copytree(
        c.ROOT / "src" / "promptstage",
        src / "src" / "promptstage",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    env_dir = folder / "sdk-venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src)]
    if wheelhouse:
        cmd[4:4] = ["--find-links", wheelhouse]
    c.log("pip install of the SDK-only package into a throwaway venv ...")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "is ignored" not in line]
        raise RuntimeError("pip install failed:\n" + "\n".join(lines[-15:]))
    return python


def _importtime(python: Path) -> tuple[float, list[tuple[float, str]]]:
    """``-X importtime``: total µs of the promptstage imports, and the largest top-level ones."""
    out = subprocess.run(
        [
            str(python),
            "-X",
            "importtime",
            "-c",
            "import promptstage; from promptstage import Client",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stderr
    total = 0.0
    top: list[tuple[float, str]] = []
    started = False
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if name.strip() == "promptstage" and not name.startswith("  "):
            started = True
        if not started:
            continue
        # Nested imports are indented by two spaces per level after the bar's one space.
        if name.startswith(" ") and not name.startswith("  "):
            cumulative = float(parts[1])
            total += cumulative
            top.append((cumulative, name.strip()))
    return total, sorted(top, reverse=True)


def bench_footprint(repeat: int, wheelhouse: str | None) -> None:
    with c.tempdir() as folder:
        python = _sdk_venv(folder, wheelhouse)
        pkgs = subprocess.run(
            [str(python), "-m", "pip", "list", "--format", "freeze", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
        ).stdout.split()
        c.log("SDK venv packages: " + ", ".join(pkgs))
        imports, rss, wall_sdk, wall_pass, rss_pass, importtimes = [], [], [], [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            sdk = json.loads(
                subprocess.run(
                    [str(python), "-c", _IMPORT_PROGRAM], capture_output=True, text=True, check=True
                ).stdout
            )
            wall_sdk.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            base = json.loads(
                subprocess.run(
                    [str(python), "-c", _PASS_PROGRAM], capture_output=True, text=True, check=True
                ).stdout
            )
            wall_pass.append((time.perf_counter() - t0) * 1e3)
            if sdk["server_libs"]:
                raise RuntimeError(f"the SDK-only import loaded {sdk['server_libs']}")
            imports.append(sdk["ms"])
            rss.append(sdk["rss_kib"] / 1024)
            rss_pass.append(base["rss_kib"] / 1024)
            importtimes.append(_importtime(python))
    it_total = [t for t, _ in importtimes]
    imp_med, rss_med = c.median(imports), c.median(rss)
    wall_delta = c.median(wall_sdk) - c.median(wall_pass)
    c.print_table(
        f"Footprint of the SDK-only install (pip install without extras): median of {repeat} fresh processes",
        ["measure", "median", "min-max", "baseline (python -c pass)", "goal", "met"],
        [
            [
                "import promptstage; from promptstage import Client (in-process, ms)",
                c.fmt(imp_med),
                c.spread(imports),
                "-",
                f"<= {IMPORT_GOAL_MS:g}",
                "yes" if imp_med <= IMPORT_GOAL_MS else "no",
            ],
            [
                "same, -X importtime total of promptstage imports (ms)",
                c.fmt(c.median(it_total) / 1e3),
                c.spread([t / 1e3 for t in it_total]),
                "-",
                "-",
                "-",
            ],
            [
                "whole process wall time (ms)",
                c.fmt(c.median(wall_sdk)),
                c.spread(wall_sdk),
                f"{c.fmt(c.median(wall_pass))} (delta {c.fmt(wall_delta)})",
                "-",
                "-",
            ],
            [
                "VmRSS after the import (MiB)",
                c.fmt(rss_med),
                c.spread(rss),
                c.fmt(c.median(rss_pass)),
                f"<= {RSS_GOAL_MIB:g}",
                "yes" if rss_med <= RSS_GOAL_MIB else "no",
            ],
        ],
    )
    top = importtimes[len(importtimes) // 2][1][:6]
    print(
        "largest top-level imports (one run, ms): "
        + ", ".join(f"{name} {us / 1e3:.1f}" for us, name in top)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        default="call,ingest,coldstart,footprint,otel",
        help="comma-separated parts to run (call, ingest, coldstart, footprint, otel)",
    )
    parser.add_argument(
        "--repeat", type=int, default=7, help="fresh processes / rounds per figure (7)"
    )
    parser.add_argument("--number", type=int, default=50_000, help="call() ops per process (50000)")
    parser.add_argument("--batches", type=int, default=20, help="ingest batches per round (20)")
    parser.add_argument(
        "--batch-size", type=int, default=500, help="records per ingest batch (500)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers of the ingest server (1)"
    )
    parser.add_argument(
        "--wheelhouse", default=None, help="pip --find-links for the footprint venv"
    )
    parser.add_argument("--worker", choices=["call", "coldstart", "otel"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "call":
        print(json.dumps(_call_worker(args.number)))
        return
    if args.worker == "otel":
        print(json.dumps(_otel_worker(args.number)))
        return
    if args.worker == "coldstart":
        print(json.dumps(_coldstart_worker(args.path, args.url)))
        sys.stdout.flush()
        os._exit(0)  # do not wait for the client's threads
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    print(c.machine())
    if "call" in parts:
        bench_call(args.repeat, args.number)
    if "ingest" in parts:
        bench_ingest(max(3, args.repeat // 2), args.batches, args.batch_size, args.workers)
    if "coldstart" in parts:
        bench_coldstart(max(args.repeat, 11))
    if "footprint" in parts:
        bench_footprint(args.repeat, args.wheelhouse)
    if "otel" in parts:
        bench_otel(args.repeat, min(args.number, 20_000))


if __name__ == "__main__":
    main()
