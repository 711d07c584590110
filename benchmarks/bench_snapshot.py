"""Snapshot build and label move at scale (SPEC §11: 10,000 prompts x 20 versions, snapshot build
and label move within 2x of 100 prompts).

For 100 and 10,000 prompts of 20 versions each (``prod`` on version 19, ``staging`` on 20) it
measures, on SQLite and on Postgres (a fresh ``promptstage_bench_<hex>`` database, dropped
afterwards; skipped when Postgres is unreachable or with ``--no-postgres``):

- ``build_state`` (``promptstage.service.snapshot``): read the project and serialize the body;
- one label move through ``promptstage.service.labels.move_label`` (p50 and p99 of 100 moves),
  interleaved with a trivial ``UPDATE`` in its own transaction as the write baseline;
- ``StateCache.get`` on a warm cache (what resolve and ``/snapshot`` pay per request);
- ``StateCache.get`` right after a label move (the cached state brought forward by the move's
  event), ``apply_events`` of that event alone (O(the changed prompt): the state is per prompt),
  and the lazy re-assembly of the body from cached per-prompt fragments that only a full
  ``200`` pays;
- over HTTP against a real server process: ``GET /snapshot`` answered from the cache (200 with
  the whole body), with ``If-None-Match`` (304), and the first ``GET /snapshot`` after a label
  move (the cache applies the move's event and re-assembles the body);
- baseline in the same process: building a dict with one entry per prompt.

Seeding: the project is created through the service, then prompts, versions, labels, label
history, audit rows (hash-chained) and outbox events are bulk-inserted through the store's
engine and ``promptstage.store.sql.tables`` (``executemany``; ``COPY`` on Postgres), row for row
what the service would have written (``create_prompt``, 20 x ``write_version``, 2 x
``move_label`` per prompt). Each run first checks that claim on a small project, on each
backend: seeded both ways with the same clock, every table (audit chain head included) and the
snapshot body must be identical. Service-layer figures are medians over
``--rounds`` fresh processes::

    .venv/bin/python benchmarks/bench_snapshot.py                  # SQLite and Postgres, 3 rounds
    .venv/bin/python benchmarks/bench_snapshot.py --no-postgres
    .venv/bin/python benchmarks/bench_snapshot.py --sizes 100 1000 --rounds 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

PROJECT = "bench"
ACTOR = "system:bench-seed"
VERSIONS = 20
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG_IN = {
    "model": {"provider": "openai", "name": "gpt-4o-mini", "version": "2024-07-18"},
    "params": {"temperature": 0.2, "max_tokens": 300},
}
VARIABLES_IN = [{"name": "customer", "type": "string"}, {"name": "message", "type": "string"}]
CHUNK = 5000


def prompt_name(i: int) -> str:
    return f"agent{i:05d}.system"


def template(i: int, n: int) -> str:
    return (
        f"You are agent {i} (revision {n}) of the clinic. Greet {{{{ customer }}}} by first "
        f"name, answer briefly and never give medical advice.\n\nMessage: {{{{ message }}}}"
    )


# seeding -----------------------------------------------------------------------------------
def seed_service(ctx: Any, prompts: int, versions: int) -> None:
    """The reference: the same project written through the service layer, one call at a time."""
    from promptstage.service import labels
    from promptstage.service import prompts as svc

    svc.create_project(ctx, ACTOR, PROJECT, "benchmark project")
    for i in range(prompts):
        name = prompt_name(i)
        svc.create_prompt(ctx, ACTOR, PROJECT, name, "text")
        for n in range(1, versions + 1):
            svc.write_version(
                ctx,
                ACTOR,
                PROJECT,
                name,
                template=template(i, n),
                variables=VARIABLES_IN,
                config=CONFIG_IN,
                message=f"revision {n}",
            )
        labels.move_label(ctx, ACTOR, PROJECT, name, "prod", versions - 1)
        labels.move_label(ctx, ACTOR, PROJECT, name, "staging", versions)


def seed_bulk(store: Any, ctx: Any, prompts: int, versions: int, at: datetime) -> None:
    """Create the project through the service, then insert what ``seed_service`` would write."""
    from sqlalchemy import select, update

    from promptstage.domain.audit import GENESIS, chain_hash
    from promptstage.domain.canonical import version_digest
    from promptstage.domain.config import parse_config
    from promptstage.domain.models import AuditRecord, Prompt, Version
    from promptstage.domain.template import parse_variables
    from promptstage.domain.wire import prompt_json, version_json
    from promptstage.service import prompts as svc
    from promptstage.store.sql.tables import audit, events, label_moves, labels, projects
    from promptstage.store.sql.tables import prompts as pt
    from promptstage.store.sql.tables import versions as vt

    svc.create_project(ctx, ACTOR, PROJECT, "benchmark project")
    config = parse_config(CONFIG_IN)
    variables = parse_variables(VARIABLES_IN)
    with store.engine.connect() as conn:
        row = conn.execute(select(projects).where(projects.c.name == PROJECT)).one()
    audit_seq, head, event_seq = row.audit_seq, row.audit_head or GENESIS, row.event_seq
    rows: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("prompts", "versions", "labels", "moves", "audit", "events")
    }

    def record(
        action: str, target: str, before: Any, after: Any, event: tuple[str, dict[str, Any]] | None
    ) -> None:
        nonlocal audit_seq, head, event_seq
        audit_seq += 1
        rec = AuditRecord(
            project=PROJECT,
            seq=audit_seq,
            at=at,
            actor=ACTOR,
            action=action,
            target=target,
            before=before,
            after=after,
            reason="",
            prev_hash=head,
            hash="",
        )
        rec = dataclasses.replace(rec, hash=chain_hash(head, rec.chained()))
        head = rec.hash
        rows["audit"].append({f.name: getattr(rec, f.name) for f in dataclasses.fields(rec)})
        if event is not None:
            event_seq += 1
            rows["events"].append(
                {"project": PROJECT, "seq": event_seq, "type": event[0], "data": event[1], "at": at}
            )

    for i in range(prompts):
        name = prompt_name(i)
        prompt = Prompt(PROJECT, name, "text", "", (), at)
        rows["prompts"].append(
            {
                "project": PROJECT,
                "name": name,
                "type": "text",
                "description": "",
                "tags": [],
                "created_at": at,
                "latest_version": versions,
            }
        )
        record(
            "prompt.create",
            f"prompt:{name}",
            None,
            prompt_json(prompt),
            ("prompt.created", {"prompt": name, "type": "text"}),
        )
        made: list[Version] = []
        for n in range(1, versions + 1):
            text = template(i, n)
            v = Version(
                prompt=name,
                number=n,
                digest=version_digest("text", text, variables, config),
                type="text",
                template=text,
                variables=variables,
                config=config,
                author=ACTOR,
                message=f"revision {n}",
                parent=n - 1 or None,
                created_at=at,
                includes={},
            )
            made.append(v)
            rows["versions"].append(
                {
                    "project": PROJECT,
                    "prompt": name,
                    "number": n,
                    "digest": v.digest,
                    "type": "text",
                    "template": text,
                    "variables": variables,
                    "config": config,
                    "includes": {},
                    "author": ACTOR,
                    "message": v.message,
                    "parent": v.parent,
                    "created_at": at,
                }
            )
            record(
                "version.create",
                f"prompt:{name}@{n}",
                None,
                {"version": n, "digest": v.digest, "message": v.message},
                ("version.created", {"prompt": name, "version": version_json(v)}),
            )
        for label, n in (("prod", versions - 1), ("staging", versions)):
            rows["labels"].append(
                {"project": PROJECT, "prompt": name, "label": label, "version": n, "updated_at": at}
            )
            rows["moves"].append(
                {
                    "project": PROJECT,
                    "prompt": name,
                    "label": label,
                    "version": n,
                    "previous": None,
                    "actor": ACTOR,
                    "reason": "",
                    "at": at,
                    "kind": "move",
                }
            )
            record(
                "label.move",
                f"label:{name}/{label}",
                {"version": None},
                {"version": n},
                (
                    "label.moved",
                    {
                        "prompt": name,
                        "label": label,
                        "version": n,
                        "previous": None,
                        "kind": "move",
                        "version_data": version_json(made[n - 1]),
                    },
                ),
            )
    with store.engine.begin() as conn:
        for table, key in (
            (pt, "prompts"),
            (vt, "versions"),
            (labels, "labels"),
            (label_moves, "moves"),
            (audit, "audit"),
            (events, "events"),
        ):
            write_rows(conn, table, rows[key])
        conn.execute(
            update(projects)
            .where(projects.c.name == PROJECT)
            .values(audit_seq=audit_seq, audit_head=head, event_seq=event_seq)
        )


def write_rows(conn: Any, table: Any, data: list[dict[str, Any]]) -> None:
    """Insert ``data`` into ``table`` in the caller's transaction: ``executemany`` through
    SQLAlchemy (its column types encode the values), or on Postgres ``COPY`` on the same
    connection, the values adapted by psycopg (JSON columns wrapped as the column's JSON type)."""
    if not data:
        return
    if conn.dialect.name != "postgresql":
        for start in range(0, len(data), CHUNK):
            conn.execute(table.insert(), data[start : start + CHUNK])
        return
    from psycopg.types.json import Json, Jsonb
    from sqlalchemy.dialects.postgresql import JSONB
    from sqlalchemy.types import JSON

    names = list(data[0])
    wrap: dict[str, Any] = {}
    for name in names:
        impl = table.c[name].type.dialect_impl(conn.dialect)
        if isinstance(impl, JSONB):
            wrap[name] = Jsonb
        elif isinstance(impl, JSON):
            wrap[name] = Json  # None too: SQLAlchemy's JSON stores Python None as JSON null
    columns = ", ".join(f'"{n}"' for n in names)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in data:
            copy.write_row([wrap[n](row[n]) if n in wrap else row[n] for n in names])


def _dump(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    from sqlalchemy import select

    from promptstage.store.sql import tables

    out = {}
    with store.engine.connect() as conn:
        for table in tables.metadata.sorted_tables:  # every table, so a new write is noticed
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


def check_bulk_equals_service(backend: str, urls: tuple[str, str]) -> str:
    """Seed a small project both ways with one fixed clock; every row must be the same."""
    from promptstage.server import open_store
    from promptstage.service.bus import EventBus
    from promptstage.service.context import Context
    from promptstage.service.snapshot import build_state
    from promptstage.settings import Settings

    dumps, bodies = [], []
    for how, url in zip(("service", "bulk"), urls, strict=True):
        store = open_store(Settings(database_url=url))
        ctx = Context(store=store, bus=EventBus(), clock=lambda: T0)
        try:
            if how == "service":
                seed_service(ctx, 3, 4)
            else:
                seed_bulk(store, ctx, 3, 4, T0)
            dumps.append(_dump(store))
            bodies.append(build_state(ctx, PROJECT).body)
        finally:
            store.close()
    for table in dumps[0]:
        if dumps[0][table] != dumps[1][table]:
            raise RuntimeError(f"{backend}: bulk seeding differs from the service in table {table}")
    if bodies[0] != bodies[1]:
        raise RuntimeError(f"{backend}: bulk seeding gives another snapshot body than the service")
    return (
        f"check ({backend}): bulk seed == service seed on 3 prompts x 4 versions "
        f"({len(dumps[0])} tables, {len(dumps[0]['audit'])} audit rows and the chain head, "
        "snapshot body)"
    )


def seed(url: str, prompts: int) -> float:
    store, ctx = c.open_context(url)
    try:
        t0 = time.perf_counter()
        seed_bulk(store, ctx, prompts, VERSIONS, datetime.now(UTC) - timedelta(days=1))
        seconds = time.perf_counter() - t0
        c.create_baseline_table(store.engine)
        return seconds
    finally:
        store.close()


# one round in a fresh process ----------------------------------------------------------------
def _median_time(fn: Any, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return c.median(samples)


def worker(url: str, prompts: int) -> dict[str, float]:
    from promptstage.service.labels import move_label
    from promptstage.service.snapshot import StateCache, build_state
    from promptstage.service.snapshot_delta import MAX_DELTA_EVENTS, apply_events

    store, ctx = c.open_context(url)
    try:
        names = [prompt_name(i) for i in range(prompts)]
        builds = 2 if prompts > 1000 else 20
        out: dict[str, float] = {}
        out["dict_ms"] = (
            _median_time(lambda: {n: {"prod": 19, "staging": 20} for n in names}, 21) * 1e3
        )
        warm = build_state(ctx, PROJECT)  # warm-up (statement caches, page cache)
        out["body_mb"] = len(warm.body) / 1e6
        out["build_ms"] = _median_time(lambda: build_state(ctx, PROJECT), builds) * 1e3
        cache = StateCache(ctx, check_seconds=3600)
        cache.get(PROJECT)
        out["cached_get_us"] = (
            _median_time(lambda: [cache.get(PROJECT) for _ in range(1000)], 7) * 1e3
        )
        target = names[prompts // 2]
        write = c.WriteBaseline(store.engine)
        moves: list[float] = []
        writes: list[float] = []
        deadline = time.monotonic() + 30
        for i in range(110):  # interleaved one for one with the write baseline
            t0 = time.perf_counter()
            move_label(ctx, "bench", PROJECT, target, "prod", VERSIONS - 1 - (i % 2 == 0))
            t1 = time.perf_counter()
            write()
            writes.append(time.perf_counter() - t1)
            moves.append(t1 - t0)
            if time.monotonic() > deadline:
                break
        moves, writes = moves[10:], writes[10:]  # the first ones warm statement caches
        out["write_ms"] = c.median(writes) * 1e3
        out["move_ms"] = c.median(moves) * 1e3
        out["move_p99_ms"] = c.percentile(moves, 99) * 1e3
        # What a move costs the cache: StateCache.get() brings the state forward from the
        # move's event (a full build_state before the delta), then the body is assembled
        # (only a full 200 of /snapshot pays that part).
        refresh, assemble, apply = [], [], []
        state = cache.get(PROJECT)
        for i in range(21 if prompts > 1000 else 101):
            move_label(ctx, "bench", PROJECT, target, "prod", VERSIONS - 1 - (i % 2 == 0))
            with store.unit_of_work() as uow:
                events = uow.events_since(PROJECT, state.seq, limit=MAX_DELTA_EVENTS + 1)
            t0 = time.perf_counter()
            apply_events(state, events)  # the move applied alone (no store read)
            apply.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            state = cache.get(PROJECT)
            t1 = time.perf_counter()
            _ = state.body
            refresh.append(t1 - t0)
            assemble.append(time.perf_counter() - t1)
        out["apply_us"] = c.median(apply[1:]) * 1e6
        out["refresh_ms"] = c.median(refresh[1:]) * 1e3
        out["assemble_ms"] = c.median(assemble[1:]) * 1e3
        return out
    finally:
        store.close()


# over HTTP ---------------------------------------------------------------------------------
def http_figures(url: str, prompts: int, folder: Path) -> dict[str, float]:
    token = c.admin_token()
    env = {
        "PROMPTSTAGE_DATABASE_URL": url,
        "PROMPTSTAGE_ADMIN_KEY": token,
        "PROMPTSTAGE_LOG_LEVEL": "warning",
        "PROMPTSTAGE_EVAL_GATE": "0",  # the moves measured here are not about eval evidence
    }
    path = f"/api/v1/projects/{PROJECT}/snapshot"
    move_path = f"/api/v1/projects/{PROJECT}/prompts/{prompt_name(prompts // 2)}/labels/prod"
    big = prompts > 1000
    with c.Server("promptstage", env=env, folder=folder) as server:
        client = c.Http(server.port, token)
        try:

            def get(etag: str | None = None) -> tuple[float, int, str]:
                t0 = time.perf_counter()
                status, _, headers = client.request(
                    "GET", path, headers={"If-None-Match": etag} if etag else None
                )
                return time.perf_counter() - t0, status, headers["etag"]

            first, _, etag = get()
            full = [get()[0] for _ in range(5 if big else 50)]
            revalidate = []
            for _ in range(300):
                seconds, status, _ = get(etag)
                if status != 304:
                    raise RuntimeError(f"expected 304, got {status}")
                revalidate.append(seconds)
            after_move = []
            prompt_path = move_path.rsplit("/labels/", 1)[0]
            current = client.json("GET", prompt_path)["labels"]["prod"]
            for i in range(2 if big else 20):
                target = VERSIONS - 1 - (i % 2 == 0)
                client.json("PUT", move_path, {"version": target, "expected_version": current})
                current = target
                after_move.append(get()[0])
        finally:
            client.close()
    return {
        "first_get_ms": first * 1e3,
        "get_200_ms": c.median(full) * 1e3,
        "get_304_ms": c.median(revalidate) * 1e3,
        "after_move_ms": c.median(after_move) * 1e3,
    }


# driver ------------------------------------------------------------------------------------
def measure(
    backend: str, url_for: Any, args: argparse.Namespace, folder: Path
) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for prompts in args.sizes:
        with url_for(prompts) as url:
            if url is None:
                return out
            c.log(f"{backend} {prompts} prompts: seeding")
            seeded = seed(url, prompts)
            rounds = []
            for r in range(args.rounds):
                c.log(f"{backend} {prompts} prompts: round {r + 1}/{args.rounds}")
                rounds.append(
                    c.run_fresh(Path(__file__), ["--worker", url, "--prompts", str(prompts)])
                )
            c.log(f"{backend} {prompts} prompts: HTTP")
            out[prompts] = {
                "seed_s": seeded,
                "rounds": rounds,
                "http": http_figures(url, prompts, folder),
            }
    return out


def report(results: dict[str, dict[int, dict[str, Any]]], args: argparse.Namespace) -> None:
    small, large = min(args.sizes), max(args.sizes)
    rows = []
    figures = [
        ("dict_ms", "baseline: build a dict, one entry per prompt", "ms", None),
        ("build_ms", "build_state()", "ms", f"within 2x of {small} (O(prompts) by nature)"),
        ("write_ms", "baseline: one UPDATE in its own transaction, p50", "ms", None),
        ("move_ms", "move_label() p50", "ms", f"within 2x of {small}"),
        ("move_p99_ms", "move_label() p99", "ms", None),
        ("cached_get_us", "StateCache.get(), warm", "µs", None),
        (
            "refresh_ms",
            "StateCache.get() after a move (events applied)",
            "ms",
            f"within 2x of {small}",
        ),
        ("apply_us", "apply_events() of one move alone (per-prompt state)", "µs", "flat"),
        ("assemble_ms", "ProjectState.body after a move (joined from fragments)", "ms", None),
        ("body_mb", "snapshot body", "MB", None),
        ("get_200_ms", "HTTP GET /snapshot, cached (200, whole body)", "ms", None),
        ("get_304_ms", "HTTP GET /snapshot, If-None-Match (304)", "ms", None),
        ("after_move_ms", "HTTP GET /snapshot, first after a move (refresh + body)", "ms", None),
        ("seed_s", "bulk seed (not measured work, for scale)", "s", None),
    ]
    for backend, by_size in results.items():
        if small not in by_size or large not in by_size:
            continue

        def value(size: int, key: str, by_size: dict[int, dict[str, Any]] = by_size) -> float:
            entry = by_size[size]
            if key in entry["http"]:
                return float(entry["http"][key])
            if key == "seed_s":
                return float(entry["seed_s"])
            return c.median([r[key] for r in entry["rounds"]])

        for key, what, unit, goal in figures:
            a, b = value(small, key), value(large, key)
            ratio = b / a if a else float("nan")
            verdict = ""
            if goal is not None:
                verdict = f"{goal}: " + ("met" if ratio <= 2 else "MISSED")
            rows.append(
                [backend, f"{what} ({unit})", c.fmt(a), c.fmt(b), f"{ratio:,.1f}x", verdict]
            )
    c.print_table(
        f"Snapshot and label move at {small} vs {large} prompts x {VERSIONS} versions "
        f"(service figures: median of {args.rounds} fresh processes)",
        ["store", "figure", f"{small} prompts", f"{large:,} prompts", "ratio", "SPEC goal"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100, 10_000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.prompts)))
        return
    print(f"bench_snapshot  {c.machine()}")
    results: dict[str, Any] = {}
    with c.tempdir() as folder:
        urls = (c.sqlite_url(folder, "check-service.db"), c.sqlite_url(folder, "check-bulk.db"))
        print(check_bulk_equals_service("SQLite", urls))
        results["SQLite"] = measure("SQLite", lambda n: _sqlite(folder, n), args, folder)
        if not args.no_postgres:
            with c.postgres_database() as one, c.postgres_database() as two:
                if one is not None and two is not None:
                    print(check_bulk_equals_service("Postgres", (one, two)))
            results["Postgres"] = measure("Postgres", lambda n: c.postgres_database(), args, folder)
    for backend, by_size in results.items():
        for size, entry in by_size.items():
            print(f"  {backend} {size} prompts: seeded in {entry['seed_s']:.1f} s")
    report(results, args)


def _sqlite(folder: Path, prompts: int) -> Any:
    import contextlib

    return contextlib.nullcontext(c.sqlite_url(folder, f"snapshot-{prompts}.db"))


if __name__ == "__main__":
    main()
