"""Label moves in the service layer, above all under contention: compare-and-set must let
exactly one of many simultaneous movers win, and the audit chain must stay one chain."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from promptstage.domain.models import Event
from promptstage.errors import NotFoundError, VersionMismatchError
from promptstage.service import audit, labels, prompts
from promptstage.service.context import Context

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}
ROUNDS, THREADS = 5, 20


def make_prompt(ctx: Context, project: str, versions: int, name: str = "greet") -> None:
    prompts.create_project(ctx, "test", project)
    prompts.create_prompt(ctx, "test", project, name, "text")
    for n in range(1, versions + 1):
        prompts.write_version(
            ctx, "test", project, name, template=f"v{n} {{{{ x }}}}", config={"model": MODEL}
        )


def test_one_winner_per_round_of_concurrent_compare_and_set(ctx: Context, project: str) -> None:
    make_prompt(ctx, project, ROUNDS + 1)
    labels.move_label(ctx, "test", project, "greet", "prod", 1)
    published: list[Event] = []
    ctx.bus.subscribe(published.append)

    def attempt(round_: int, worker: int, barrier: threading.Barrier) -> str:
        barrier.wait()
        try:
            labels.move_label(
                ctx,
                f"user:{worker}",
                project,
                "greet",
                "prod",
                round_ + 1,
                expected_version=round_,
                reason=f"round {round_}",
            )
        except VersionMismatchError as exc:
            assert exc.field == "expected_version"
            return "mismatch"
        return "moved"

    with ThreadPoolExecutor(THREADS) as pool:
        for round_ in range(1, ROUNDS + 1):
            barrier = threading.Barrier(THREADS)
            outcomes = list(
                pool.map(lambda w, r=round_, b=barrier: attempt(r, w, b), range(THREADS))
            )
            assert outcomes.count("moved") == 1, (round_, outcomes)
            assert outcomes.count("mismatch") == THREADS - 1

    history, _ = labels.label_history(ctx, project, "greet", "prod", limit=100)
    assert [(m.version, m.previous) for m in history] == [
        (n + 1, n) for n in range(ROUNDS, 0, -1)
    ] + [(1, None)]
    assert [m.reason for m in history[:-1]] == [f"round {n}" for n in range(ROUNDS, 0, -1)]
    assert [(e.type, e.data["version"]) for e in published] == [
        ("label.moved", n + 1) for n in range(1, ROUNDS + 1)
    ]

    report = audit.verify(ctx, project)
    assert report.ok, report
    rows, _ = audit.list_audit(ctx, project, limit=500)
    assert len({r.prev_hash for r in rows}) == len(rows), (
        "two audit rows share a prev_hash: the chain forked"
    )
    assert [r.seq for r in rows] == list(range(len(rows), 0, -1))
    assert sum(r.action == "label.move" for r in rows) == ROUNDS + 1


def test_concurrent_moves_verify_through_the_api(ctx: Context, project: str) -> None:
    """The same contention through ``/audit/verify`` of an app sharing the store."""
    import asyncio

    import httpx

    from promptstage.server import create_app
    from promptstage.settings import Settings

    make_prompt(ctx, project, 3)

    def move(worker: int) -> None:
        labels.move_label(ctx, f"user:{worker}", project, "greet", f"l{worker % 3}", worker % 3 + 1)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(move, range(THREADS)))

    token = "ps_testadmin_" + "ab" * 32
    app = create_app(Settings(admin_key=token, eval_gate=False), store=ctx.store)

    async def verify() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            return await client.get(
                f"/api/v1/projects/{project}/audit/verify",
                headers={"Authorization": f"Bearer {token}"},
            )

    response = asyncio.run(verify())
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["checked"] == 1 + 1 + 3 + 3  # project, prompt, versions, first moves


def test_move_to_the_current_version_returns_none_and_records_nothing(
    ctx: Context, project: str
) -> None:
    make_prompt(ctx, project, 2)
    assert labels.move_label(ctx, "test", project, "greet", "prod", 2) is not None
    before, _ = audit.list_audit(ctx, project)
    assert labels.move_label(ctx, "test", project, "greet", "prod", 2, expected_version=2) is None
    assert audit.list_audit(ctx, project)[0] == before


def test_a_refused_move_publishes_nothing(ctx: Context, project: str) -> None:
    make_prompt(ctx, project, 2)
    published: list[Event] = []
    ctx.bus.subscribe(published.append)
    with pytest.raises(VersionMismatchError):
        labels.move_label(ctx, "test", project, "greet", "prod", 2, expected_version=1)
    with pytest.raises(NotFoundError) as info:
        labels.move_label(ctx, "test", project, "greet", "prod", 9)
    assert info.value.field == "version"
    with pytest.raises(NotFoundError) as info:
        labels.move_label(ctx, "test", "nope", "greet", "prod", 1)
    assert info.value.field == "project"
    assert published == []
    assert labels.label_history(ctx, project, "greet", "prod")[0] == []
