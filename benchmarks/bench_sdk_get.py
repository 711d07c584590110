"""Benchmark ``Client.get`` (SPEC §11: <= 0.5 µs without a release, <= 1 µs with a release and
two targeting rules) and the caller-thread cost of ``Client.call`` (<= 10 µs).

The client starts from a bootstrap dict (no server: its transport is an in-process mock that
answers the same snapshot, streaming off), so only the in-memory path is measured. Each
scenario's median ns/op of repeated ``timeit`` runs is printed beside a plain dict lookup
measured in the same run, with the ratio to it::

    .venv/bin/python benchmarks/bench_sdk_get.py                # 7 repeats in this process
    .venv/bin/python benchmarks/bench_sdk_get.py --fresh        # each repeat in a fresh process
    .venv/bin/python benchmarks/bench_sdk_get.py --repeat 11 --number 500000
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path
from typing import Any

try:
    import promptstage  # noqa: F401
except ModuleNotFoundError:  # running from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
from _common import microbench_main

from promptstage import Client
from promptstage.domain.canonical import version_digest

BASELINE = "dict lookup"
PROJECT = "clinic"
FILLER_PROMPTS = 200
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"},
    "params": {"temperature": 0.2},
    "tools": [],
    "retrieval": None,
    "postprocess": None,
    "metadata": {},
}
TWO_RULES = {
    "combinator": "and",
    "rules": [
        {"field": "channel", "operator": "in", "value": ["whatsapp", "sms"]},
        {"field": "vertical", "operator": "=", "value": "dental"},
    ],
}


def _version(prompt: str, number: int, text: str) -> dict[str, Any]:
    template = [{"role": "system", "content": text}]
    variables = [{"name": "clinic", "type": "string", "required": True}]
    return {
        "prompt": prompt,
        "version": number,
        "digest": version_digest("chat", template, variables, CONFIG),
        "type": "chat",
        "template": template,
        "variables": variables,
        "config": CONFIG,
        "includes": {},
    }


def bootstrap() -> dict[str, Any]:
    """booking.system (release 3 -> 4 at 25 % with two rules), router.intent, and fillers."""
    versions = [
        _version("booking.system", 3, "You book appointments for {{ clinic }}."),
        _version("booking.system", 4, "You book appointments for {{ clinic }}. Be brief."),
        _version("router.intent", 7, "Route the message for {{ clinic }}."),
    ]
    prompts: dict[str, Any] = {
        "booking.system": {"type": "chat", "labels": {"prod": 3, "latest": 4}},
        "router.intent": {"type": "chat", "labels": {"prod": 7, "latest": 7}},
    }
    for i in range(FILLER_PROMPTS):
        name = f"agent{i:03d}.system"
        versions.append(_version(name, 1, f"Agent {i} for {{{{ clinic }}}}."))
        prompts[name] = {"type": "chat", "labels": {"prod": 1, "latest": 1}}
    release = {
        "id": "rel_bench",
        "prompt": "booking.system",
        "label": "prod",
        "baseline_version": 3,
        "candidate_version": 4,
        "weight_bps": 2500,
        "salt": "9c1f4e2a7b3d5e6f",
        "hash_version": 1,
        "targeting": TWO_RULES,
        "state": "running",
    }
    return {
        "format": 1,
        "project": PROJECT,
        "seq": 1,
        "prompts": prompts,
        "versions": {f"{v['prompt']}@{v['version']}": v for v in versions},
        "releases": [release],
    }


def make_client() -> Client:
    snap = bootstrap()
    body = json.dumps(snap).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/snapshot"):
            return httpx.Response(200, content=body, headers={"ETag": '"1"'})
        return httpx.Response(202, json={})

    return Client(
        "http://bench.invalid",
        PROJECT,
        "ps_bench_secret",
        bootstrap=snap,
        stream=False,
        poll_interval=3600.0,
        transport=httpx.MockTransport(handler),
        # call(): records only queue (the sender never wakes), so only the caller's cost counts.
        queue_size=10_000,
        batch_size=10**9,
        flush_interval=3600.0,
    )


def scenarios(ps: Client) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (statement, globals). The first is the baseline."""
    ctx = {"channel": "whatsapp", "vertical": "dental"}
    env = {"get": ps.get, "ctx": ctx, "other": {"channel": "web"}, "call": ps.call}
    env["p"] = ps.get("booking.system", "prod", "user-42", ctx)
    cache = {f"agent{i:03d}.system": i for i in range(FILLER_PROMPTS)} | {"router.intent": 7}
    return {
        BASELINE: ('cache["router.intent"]', {"cache": cache}),
        "get, no release": ('get("router.intent", "prod")', env),
        "get, no release, unit + context": ('get("router.intent", "prod", "user-42", ctx)', env),
        "get, release + 2 rules, match": ('get("booking.system", "prod", "user-42", ctx)', env),
        "get, release + 2 rules, no match": (
            'get("booking.system", "prod", "user-42", other)',
            env,
        ),
        "call() on the caller's thread": ("with call(p): pass", env),
    }


def measure_once(number: int) -> dict[str, float]:
    """One timeit pass per scenario, in ns/op."""
    ps = make_client()
    try:
        out = {}
        for name, (stmt, env) in scenarios(ps).items():
            n = number if not name.startswith("call") else max(1, number // 50)
            out[name] = timeit.Timer(stmt, globals=env).timeit(n) / n * 1e9
        return out
    finally:
        ps.close(timeout=0.0)


def main(argv: list[str] | None = None) -> None:
    microbench_main(__doc__, __file__, measure_once, BASELINE, argv)


if __name__ == "__main__":
    main()
