"""Server-side render time of the admin UI's overview and prompt pages at 100 and 10,000 prompts,
beside the JSON API endpoints that read the same data, in the same run (issue 12).

For each size a fresh SQLite database (and, unless ``--no-postgres``, a fresh Postgres database)
is seeded by bulk insert with prompts ``agentNNN.pXXXXX`` (tags, ``--versions`` versions each,
``prod`` and ``staging`` set, two label moves each), then ``ANALYZE``d, plus a signed-in editor.
Then, in process (FastAPI's ``TestClient``: no socket, no second process), requests are timed
interleaved, ``--repeat`` times each after a warm-up:

- ``GET /ui/p/bench`` (overview, first page of 50 prompts x labels with last moves and badges);
- ``GET /ui/p/bench?q=agent007`` (overview filtered by name: the whole project is searched);
- ``GET /api/v1/projects/bench/prompts?limit=50`` (the JSON list endpoint: the baseline);
- ``GET /ui/p/bench/prompts/<name>`` (prompt page: versions, snapshot, history, actions);
- ``GET /api/v1/projects/bench/prompts/<name>`` (the JSON prompt endpoint: its baseline).

Goal: the overview at 10,000 prompts (first page) within 3x of the JSON list endpoint, with a
p50 under 50 ms::

    .venv/bin/python benchmarks/bench_ui.py                      # SQLite and Postgres
    .venv/bin/python benchmarks/bench_ui.py --no-postgres --repeat 30
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "bench"
ACTOR = "system:bench-seed"
PASSWORD = "bench password, long enough"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = {
    "model": {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"},
    "params": {"temperature": 0.2, "max_tokens": 300},
}
CHUNK = 5000


def name_of(i: int) -> str:
    return f"agent{i % 37:03d}.p{i:05d}"


def seed(store: Any, ctx: Any, prompts: int, versions: int) -> None:
    """The project and an editor through the service; prompts, versions, labels and label
    history bulk-inserted through the store's tables (what the pages read)."""
    from promptstage.domain.canonical import version_digest
    from promptstage.domain.config import parse_config
    from promptstage.service import prompts as svc
    from promptstage.service import users
    from promptstage.store.sql.tables import label_moves, labels
    from promptstage.store.sql.tables import prompts as pt
    from promptstage.store.sql.tables import versions as vt

    svc.create_project(ctx, ACTOR, PROJECT, "benchmark project")
    users.create_user(ctx, ACTOR, PROJECT, "erin", PASSWORD, "editor")
    config = parse_config(CONFIG)
    variables = [{"name": "customer", "type": "string", "required": True}]
    rows: dict[str, list[dict[str, Any]]] = {"p": [], "v": [], "l": [], "m": []}
    for i in range(prompts):
        name = name_of(i)
        rows["p"].append(
            {"project": PROJECT, "name": name, "type": "text", "description": "",
             "tags": ["voice" if i % 2 else "chat", f"team{i % 5}"], "created_at": T0,
             "latest_version": versions}
        )  # fmt: skip
        for n in range(1, versions + 1):
            text = f"You are agent {i} (revision {n}). Greet {{{{ customer }}}} briefly."
            rows["v"].append(
                {"project": PROJECT, "prompt": name, "number": n,
                 "digest": version_digest("text", text, variables, config), "type": "text",
                 "template": text, "variables": variables, "config": config, "includes": {},
                 "author": ACTOR, "message": f"revision {n}", "parent": n - 1 or None,
                 "created_at": T0 + timedelta(minutes=n)}
            )  # fmt: skip
        for label, version, at in (("prod", versions - 1, 1), ("staging", versions, 2)):
            rows["l"].append(
                {"project": PROJECT, "prompt": name, "label": label, "version": version,
                 "updated_at": T0 + timedelta(hours=at)}
            )  # fmt: skip
            rows["m"].append(
                {"project": PROJECT, "prompt": name, "label": label, "version": version,
                 "previous": None, "actor": ACTOR, "reason": "seed", "kind": "move",
                 "at": T0 + timedelta(hours=at)}
            )  # fmt: skip
    with store.engine.begin() as conn:
        for table, key in ((pt, "p"), (vt, "v"), (labels, "l"), (label_moves, "m")):
            for start in range(0, len(rows[key]), CHUNK):
                conn.execute(table.insert(), rows[key][start : start + CHUNK])
    # Planner statistics, as autovacuum (Postgres) or a long-lived database would have them:
    # without them a freshly bulk-loaded table is planned as if it were empty.
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def client_for(url: str, admin_key: str) -> Any:
    """The whole app in process, with an editor signed in through the form."""
    from fastapi.testclient import TestClient

    from promptstage.server import create_app
    from promptstage.settings import Settings

    app = create_app(Settings(database_url=url, admin_key=admin_key))
    client = TestClient(app, follow_redirects=False)
    form = client.get("/ui/sign-in").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token, "no sign-in form"
    signed = client.post(
        "/ui/sign-in",
        data={"csrf": token.group(1), "name": "erin", "password": PASSWORD, "next": "/ui/"},
    )
    assert signed.status_code == 303, signed.text
    return client


def measure(
    targets: dict[str, Callable[[], Any]], repeat: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Milliseconds per request of each target, run interleaved ``repeat`` times."""
    for fn in targets.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in targets}
    for _ in range(repeat):
        for key, fn in targets.items():
            start = time.perf_counter()
            answer = fn()
            times[key].append((time.perf_counter() - start) * 1000)
            assert answer.status_code == 200, (key, answer.status_code, answer.text[:300])
    return times


def run(url: str, prompts: int, versions: int, repeat: int) -> dict[str, list[float]]:
    key = c.admin_token()
    store, ctx = c.open_context(url)
    try:
        c.log(f"seeding {prompts} prompts x {versions} versions")
        seed(store, ctx, prompts, versions)
    finally:
        store.close()
    with client_for(url, key) as client:
        auth = {"Authorization": f"Bearer {key}"}
        one = name_of(prompts // 2)
        api = f"/api/v1/projects/{PROJECT}"
        targets = {
            "overview": lambda: client.get(f"/ui/p/{PROJECT}"),
            "overview ?q=": lambda: client.get(f"/ui/p/{PROJECT}?q=agent007"),
            "JSON list (50)": lambda: client.get(f"{api}/prompts?limit=50", headers=auth),
            "prompt page": lambda: client.get(f"/ui/p/{PROJECT}/prompts/{one}"),
            "JSON prompt": lambda: client.get(f"{api}/prompts/{one}", headers=auth),
        }
        first = targets["overview"]()
        assert first.text.count('class="ver"') >= 150, "the overview shows 50 rows x 3 labels"
        return measure(targets, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print(f"bench_ui  {c.machine()}")
    rows = []
    backends: list[tuple[str, Any]] = [("SQLite", None)]
    if not args.no_postgres:
        backends.append(("Postgres", c.postgres_database))
    for backend, make_pg in backends:
        for size in args.sizes:
            if make_pg is None:
                with tempfile.TemporaryDirectory() as folder:
                    times = run(c.sqlite_url(folder), size, args.versions, args.repeat)
            else:
                with make_pg() as pg_url:
                    if pg_url is None:
                        continue
                    times = run(pg_url, size, args.versions, args.repeat)
            base_list = c.median(times["JSON list (50)"])
            base_prompt = c.median(times["JSON prompt"])
            for key, values in times.items():
                base = base_prompt if "prompt" in key else base_list
                rows.append(
                    [backend, f"{size:,}", key, c.fmt(c.median(values)),
                     c.fmt(c.percentile(values, 90)), c.spread(values),
                     f"{c.median(values) / base:.2f}x"]
                )  # fmt: skip
    c.print_table(
        f"GET in process, ms per request (median of {args.repeat}, interleaved); "
        "ratio to the JSON endpoint reading the same data",
        ["backend", "prompts", "request", "p50 ms", "p90 ms", "range", "x JSON"],
        rows,
    )


if __name__ == "__main__":
    main()
