"""Scale: what one project of 100, 10,000 and 100,000 prompts costs (issue 16).

Each row is a function of ``ROWS`` (``--only NAME`` runs some of them); each prints a Markdown
table with its figure at every size beside a baseline measured in the same run, and the goal.
The SDK rows need no server: the project is a bulk synthetic snapshot (one chat version per
prompt, ``prod`` and ``latest`` on it, every 10th prompt with a second version)::

    .venv/bin/python benchmarks/bench_scale.py                       # every row, every size
    .venv/bin/python benchmarks/bench_scale.py --only sdk_event --sizes 100,10000
    .venv/bin/python benchmarks/bench_scale.py --only sdk_get --repeat 9

Rows:

* ``sdk_event``: a ``label.moved`` event (with its version's wire form, as the server sends
  it) through one client's sync core: decode, verify, apply, publish. Baseline: one copy of
  the client's prompt map (what any whole-state copy would cost at least).
* ``sdk_cold``: ``Client(...)`` from a last-known-good file, until the first ``get`` returns.
  Baseline: reading and ``json.loads`` of that file alone.
* ``sdk_memory``: bytes held per prompt beyond its template text (``tracemalloc``), after the
  load, after a ``get`` of every prompt, and for more clients of the same project in the
  same process: a second one (sharing the first one's feed, the default) and a third with
  ``share=False``. Baseline: the decoded JSON of the snapshot alone.
* ``sdk_lkg_write``: writing the last-known-good file, and the longest stall it causes a thread
  that ticks every millisecond (what the thread reading events waits at most for the GIL).
  Baseline: the stall of one ``json.dumps`` of the prompt map.
* ``sdk_get``: ``get(unit=..., context=...)`` with an active release and two targeting rules,
  and each part of it, beside a dict lookup, ``mmh3`` alone, and Langfuse's cached
  ``get_prompt`` (the ``langfuse`` package, if installed) in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import httpx

from promptstage import Client
from promptstage.domain.canonical import version_digest
from promptstage.sdk.lkg import write_lkg
from promptstage.sdk.sse import SSEEvent

PROJECT = "fleet"
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
    "params": {"temperature": 0.2},
    "tools": [],
    "retrieval": None,
    "postprocess": None,
    "metadata": {},
}
VARIABLES = [{"name": "customer", "type": "string", "required": True}]


def _version(name: str, number: int) -> dict[str, Any]:
    text = f"You are the {name} agent (v{number}) for {{{{ customer }}}}. Answer briefly."
    template = [{"role": "system", "content": text}]
    return {
        "prompt": name,
        "version": number,
        "digest": version_digest("chat", template, VARIABLES, CONFIG),
        "type": "chat",
        "template": template,
        "variables": VARIABLES,
        "config": CONFIG,
        "includes": {},
    }


_SNAPSHOTS: dict[int, bytes] = {}


def snapshot_body(size: int) -> bytes:
    """The JSON body of a ``size``-prompt snapshot (built once per size and run)."""
    if size not in _SNAPSHOTS:
        prompts: dict[str, Any] = {}
        versions: dict[str, Any] = {}
        for i in range(size):
            name = f"c{i:06d}.support.chat"
            numbers = (1, 2) if i % 10 == 0 else (1,)
            for n in numbers:
                versions[f"{name}@{n}"] = _version(name, n)
            prompts[name] = {"type": "chat", "labels": {"prod": 1, "latest": numbers[-1]}}
        snap = {"format": 1, "project": PROJECT, "seq": 1, "prompts": prompts}
        snap |= {"versions": versions, "releases": []}
        _SNAPSHOTS[size] = json.dumps(snap).encode()
    return _SNAPSHOTS[size]


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("bench: no server", request=request)


_NO_SERVER = httpx.MockTransport(_unreachable)  # one object: clients built alike share a feed


def make_client(**settings: Any) -> Client:
    options: dict[str, Any] = {
        "stream": False,
        "poll_interval": 3600.0,
        "init_timeout": 0.0,
        "transport": _NO_SERVER,
        "cache_path": None,
        "backoff_initial": 3600.0,
        "backoff_max": 3600.0,
    }
    options.update(settings)
    return Client("http://bench.invalid", PROJECT, "ps_bench_secret", **options)


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _goal(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _shape(values: list[float], sizes: list[int]) -> str:
    """How the figure grows with the size: the exponent k of figure ~ size**k between the
    smallest and the largest size: flat (k < 0.25), linear (k <= 1.25) or worse."""
    if len(values) < 2 or values[0] <= 0 or values[-1] <= 0:
        return "-"
    k = math.log(values[-1] / values[0]) / math.log(sizes[-1] / sizes[0])
    verdict = "flat" if k < 0.25 else "linear" if k <= 1.25 else "worse than linear"
    return f"{verdict} (k={k:.2f})"


# rows ---------------------------------------------------------------------------------------
def row_sdk_event(sizes: list[int], repeat: int) -> None:
    """One ``label.moved`` through a client's sync core, at each size."""
    rows, figures = [], []
    for size in sizes:
        ps = make_client(bootstrap=json.loads(snapshot_body(size)))
        try:
            core = ps._core
            name = f"c{0:06d}.support.chat"  # it has versions 1 and 2
            raws = {n: _version(name, n) for n in (1, 2)}
            ps.get(name, "prod")  # in use, as in a serving client
            events: list[float] = []
            for i in range(max(repeat, 5) * 20):
                seq = core.state.seq + 1  # type: ignore[union-attr]
                number = 2 if i % 2 == 0 else 1
                data = {"prompt": name, "label": "prod", "version": number}
                data |= {"previous": 3 - number, "version_data": raws[number]}
                ev = SSEEvent(event="label.moved", data=json.dumps(data), id=str(seq))
                events.append(_timed(lambda ev=ev, core=core: core.on_event(ev)) * 1e6)
                assert ps.get(name, "prod").version == number
            # Timed apart: copying 100,000 entries between events would evict the caches.
            prompts = core.state.store.prompts  # type: ignore[union-attr]
            copies = [_timed(lambda prompts=prompts: dict(prompts)) * 1e6 for _ in range(repeat)]
            move, copy = statistics.median(events), statistics.median(copies)
        finally:
            ps.close(timeout=0.0)
        figures.append(move)
        rows.append([f"{size:,}", c.fmt(move), c.fmt(copy), f"{move / copy:.3f}"])
    verdict = _shape(figures, sizes)
    rows.append(["shape", verdict, "", ""])
    c.print_table(
        f"sdk_event: one label.moved applied in a client (µs, median); goal <= 50 µs at the "
        f"largest size: {_goal(figures[-1] <= 50)}",
        ["prompts", "apply event µs", "baseline: copy the prompt map µs", "x baseline"],
        rows,
    )


def row_sdk_cold(sizes: list[int], repeat: int) -> None:
    """``Client(...)`` from a last-known-good file until the first ``get`` returns."""
    rows, figures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"lkg-{size}.json"
            write_lkg(path, json.loads(snapshot_body(size)), '"1"')
            starts, reads = [], []
            for _ in range(max(1, min(repeat, 3))):
                gc.collect()
                reads.append(_timed(lambda path=path: json.loads(path.read_bytes())))
                started = time.perf_counter()
                ps = make_client(cache_path=path)
                p = ps.get(f"c{size - 1:06d}.support.chat", unit="u1", context={"x": "y"})
                starts.append(time.perf_counter() - started)
                assert ps.status().source == "lkg" and p.version == 1
                ps.close(timeout=0.0)
                del ps
            start, read = statistics.median(starts), statistics.median(reads)
            figures.append(start)
            rows.append([f"{size:,}", c.fmt(start * 1e3), c.fmt(read * 1e3), f"{start / read:.2f}"])
    rows.append(["shape", _shape(figures, sizes), "", ""])
    c.print_table(
        f"sdk_cold: Client(...) from a last-known-good file to the first get (ms, median); "
        f"goal <= 1 s at the largest size: {_goal(figures[-1] <= 1.0)}",
        ["prompts", "cold start to first get ms", "baseline: read + json.loads ms", "x baseline"],
        rows,
    )


def _held(fn: Callable[[], Any]) -> tuple[int, Any]:
    """Bytes still allocated after ``fn()`` (its result kept alive), per tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def _use_all(ps: Client, names: list[str]) -> None:
    for name in names:
        ps.get(name, "prod")
        ps.get(name, "latest")


def row_sdk_memory(sizes: list[int], repeat: int) -> None:
    """Bytes per prompt beyond the template text."""
    rows, figures = [], []
    for size in sizes:
        body = snapshot_body(size)
        text = sum(
            len(m["content"].encode())
            for v in json.loads(body)["versions"].values()
            for m in v["template"]
        )
        names = [f"c{i:06d}.support.chat" for i in range(size)]
        raw_bytes, raw = _held(lambda body=body: json.loads(body))
        del raw
        loaded, ps = _held(lambda body=body: make_client(bootstrap=json.loads(body)))

        used, _ = _held(lambda ps=ps, names=names: _use_all(ps, names))
        second, ps2 = _held(lambda body=body: make_client(bootstrap=json.loads(body)))
        used2, _ = _held(lambda ps2=ps2, names=names: _use_all(ps2, names))
        own, ps3 = _held(lambda body=body: make_client(bootstrap=json.loads(body), share=False))
        used3, _ = _held(lambda ps3=ps3, names=names: _use_all(ps3, names))
        for client in (ps, ps2, ps3):
            client.close(timeout=0.0)
        per = (loaded + used - text) / size
        figures.append((loaded - text) / size)
        rows.append(
            [
                f"{size:,}",
                c.fmt((loaded - text) / size),
                c.fmt(per),
                c.fmt((second + used2) / size),
                c.fmt((own + used3 - text) / size),
                c.fmt((raw_bytes - text) / size),
            ]
        )
    c.print_table(
        f"sdk_memory: bytes per prompt beyond its template text; goal <= 2 KiB per loaded "
        f"prompt: {_goal(figures[-1] <= 2048)} (verified and compiled on first use: see the "
        "used columns)",
        [
            "prompts",
            "loaded B/prompt",
            "every label used B/prompt",
            "2nd client (shared feed), used B/prompt",
            "3rd client, share=False, used B/prompt",
            "baseline: decoded JSON B/prompt",
        ],
        rows,
    )


def _longest_stall(work: Callable[[], Any]) -> tuple[float, float]:
    """``(seconds work() took, longest gap between a ticking thread's 1 ms ticks meanwhile)``:
    the longest a thread reading events would have waited for the GIL."""
    done = threading.Event()
    gaps: list[float] = []

    def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    took = _timed(work)
    done.set()
    ticker.join()
    return took, max(gaps, default=0.0)


def row_sdk_lkg_write(sizes: list[int], repeat: int) -> None:
    """A last-known-good write (what the writer thread does) and the longest stall it causes a
    thread that ticks every millisecond. Baseline: the stall of one ``json.dumps`` of the
    prompt map, one encoder call, as the whole map was encoded before."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            ps = make_client(bootstrap=json.loads(snapshot_body(size)))
            state = ps._core.state
            assert state is not None
            path = Path(tmp) / f"lkg-{size}.json"
            writes, stalls, base = [], [], []
            for _ in range(max(1, min(repeat, 5))):
                gc.collect()
                took, stall = _longest_stall(
                    lambda state=state, path=path: write_lkg(
                        path, state.to_snapshot(packed=True), state.etag
                    )
                )
                writes.append(took)
                stalls.append(stall)
                prompts = state.to_snapshot()["prompts"]
                base.append(_longest_stall(lambda prompts=prompts: json.dumps(prompts))[1])
            ps.close(timeout=0.0)
            rows.append(
                [
                    f"{size:,}",
                    c.fmt(statistics.median(writes) * 1e3),
                    c.fmt(statistics.median(stalls) * 1e3),
                    c.fmt(statistics.median(base) * 1e3),
                ]
            )
    c.print_table(
        "sdk_lkg_write: writing the last-known-good file (ms, median) and the longest stall of a "
        "thread ticking every 1 ms meanwhile (ms, median)",
        [
            "prompts",
            "write ms",
            "longest stall ms",
            "baseline: stall of one json.dumps of the prompt map ms",
        ],
        rows,
    )


ROWS: dict[str, Callable[[list[int], int], None]] = {
    "sdk_event": row_sdk_event,
    "sdk_cold": row_sdk_cold,
    "sdk_memory": row_sdk_memory,
    "sdk_lkg_write": row_sdk_lkg_write,
}


def main(argv: list[str] | None = None) -> None:
    from _scale_get import row_sdk_get

    rows = ROWS | {"sdk_get": row_sdk_get}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="", help=f"comma-separated rows: {', '.join(rows)}")
    parser.add_argument("--sizes", default="100,10000,100000", help="prompt counts")
    parser.add_argument("--repeat", type=int, default=5, help="repeats per figure (5)")
    args = parser.parse_args(argv)
    wanted = [r for r in args.only.split(",") if r] or list(rows)
    unknown = [r for r in wanted if r not in rows]
    if unknown:
        parser.error(f"--only: unknown row(s) {', '.join(unknown)}; rows: {', '.join(rows)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    print(c.machine())
    for name in wanted:
        rows[name](sizes, args.repeat)


if __name__ == "__main__":
    main()
