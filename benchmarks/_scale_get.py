"""The ``sdk_get`` row of ``bench_scale.py``: ``get`` with a release and two targeting rules.

At each size the client holds the bulk snapshot plus a running release (25 %, two targeting
rules) on one prompt; ``get(name, "prod", unit, context)`` is timed beside a dict lookup and
Langfuse's cached ``get_prompt`` (a local endpoint serves it once; the cache answers after),
all in the same process. At the largest size each part of the path is timed alone too.
"""

from __future__ import annotations

import json
import statistics
import threading
import timeit
from http.server import ThreadingHTTPServer
from typing import Any

import _common as c
import mmh3
from bench_scale import make_client, snapshot_body

from promptstage.sdk.prompt import for_call

RULES = {
    "combinator": "and",
    "rules": [
        {"field": "channel", "operator": "in", "value": ["whatsapp", "sms"]},
        {"field": "vertical", "operator": "=", "value": "dental"},
    ],
}
NAME = "c000000.support.chat"  # it has versions 1 and 2
CTX = {"channel": "whatsapp", "vertical": "dental"}
GOAL_NS, GOAL_RATIO = 400.0, 4.0


def _with_release(size: int) -> dict[str, Any]:
    snap = json.loads(snapshot_body(size))
    snap["releases"] = [
        {
            "id": "rel_scale",
            "prompt": NAME,
            "label": "prod",
            "baseline_version": 1,
            "candidate_version": 2,
            "weight_bps": 2500,
            "salt": "9c1f4e2a7b3d5e6f",
            "hash_version": 1,
            "targeting": RULES,
            "state": "running",
        }
    ]
    return snap


def _langfuse() -> tuple[Any, Any] | None:
    """A Langfuse client whose prompt cache holds ``booking.system``, or None if unavailable."""
    try:
        from bench_langfuse import PROMPT, _Endpoint
        from langfuse import Langfuse
    except ImportError:
        return None
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lf = Langfuse(
        public_key="pk-lf-bench",
        secret_key="sk-lf-bench",
        base_url=f"http://127.0.0.1:{server.server_address[1]}",
        tracing_enabled=False,
    )
    warm = lf.get_prompt(PROMPT, type="chat", cache_ttl_seconds=3600)
    assert warm.version == 3 and not warm.is_fallback, "the Langfuse SDK did not load the prompt"
    return lf, server


def _ns(stmt: str, env: dict[str, Any], number: int, repeat: int) -> float:
    timer = timeit.Timer(stmt, globals=env)
    timer.timeit(max(1, number // 10))
    return statistics.median(t / number * 1e9 for t in timer.repeat(repeat=repeat, number=number))


def row_sdk_get(sizes: list[int], repeat: int) -> None:
    number = 100_000
    lf = _langfuse()
    rows, parts_rows = [], []
    figures: list[tuple[float, float, float]] = []
    for size in sizes:
        ps = make_client(bootstrap=_with_release(size))
        try:
            p = ps.get(NAME, "prod", "user-42", CTX)
            assert p.release_id == "rel_scale", "the release is not served"
            entry = ps._entries[NAME, "prod"]
            env: dict[str, Any] = {"get": ps.get, "ctx": CTX, "d": {NAME: entry}}
            stmts = {
                "dict lookup": "d[name]",
                "get, release + 2 rules": "get(name, 'prod', 'user-42', ctx)",
            }
            if lf is not None:
                env["lf_get"] = lf[0].get_prompt
                stmts["Langfuse get_prompt, cached"] = "lf_get('booking.system', type='chat')"
            if size == sizes[-1]:
                release = entry.release
                assert release is not None and entry.pick is not None
                env |= {"h": mmh3.hash, "prefix": release._prefix, "matcher": release.matcher}
                env |= {"pick": entry.pick, "for_call": for_call, "base": p}
                stmts |= {
                    "mmh3 alone (key + hash)": "h(f'{prefix}{unit}', 0, False)",
                    "targeting alone (2 rules)": "matcher(ctx)",
                    "release choice (rules + hash + arm)": "pick('user-42', ctx)",
                    "result object (unit + context)": "for_call(base, 'user-42', ctx)",
                    "get, no release, no unit": "get(other, 'prod')",
                }
                env["other"] = f"c{size - 1:06d}.support.chat"
            env |= {"name": NAME, "unit": "user-42"}
            got = {label: _ns(stmt, env, number, repeat) for label, stmt in stmts.items()}
        finally:
            ps.close(timeout=0.0)
        base, get_ns = got["dict lookup"], got["get, release + 2 rules"]
        lf_ns = got.get("Langfuse get_prompt, cached", float("nan"))
        figures.append((get_ns, base, lf_ns))
        rows.append(
            [f"{size:,}", c.fmt(get_ns), c.fmt(base), c.fmt(lf_ns), c.fmt(lf_ns / get_ns, 2)]
        )
        if size == sizes[-1]:
            parts_rows = [[label, c.fmt(ns), c.fmt(ns / base, 2)] for label, ns in got.items()]
    if lf is not None:
        lf[1].shutdown()
    get_ns, _, lf_ns = figures[-1]
    ok = get_ns <= GOAL_NS and lf_ns / get_ns >= GOAL_RATIO
    c.print_table(
        f"sdk_get: get(unit, context) with a release and 2 targeting rules (ns, median); goal "
        f"<= {GOAL_NS:.0f} ns quiet and >= {GOAL_RATIO:.0f}x Langfuse's cached get_prompt: "
        f"{'met' if ok else 'NOT met'} (this run; the ns goal is for a quiet machine)",
        ["prompts", "get ns", "baseline: dict lookup ns", "Langfuse cached ns", "x faster"],
        rows,
    )
    c.print_table(
        f"sdk_get parts at {sizes[-1]:,} prompts (ns, median, same run)",
        ["part", "ns", "x dict lookup"],
        parts_rows,
    )
