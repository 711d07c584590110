"""FAULT TEST: ``kill -9`` the server in the middle of an eval run, then start it again.

The run is marked ``interrupted`` (never passed), the gate reading it still blocks, and
``resume`` finishes it by running only the cases that had no result.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from promptstage.evals.gate_policy import (
    Candidate,
    GatePolicy,
    SuiteRequirement,
    decide,
    model_snapshot_digest,
)
from promptstage.service import eval_runs
from promptstage.store.sql import SqlStore
from support.fake_model import FakeModel, running_fake_model

from ..servers import ServerProcess, wait_for

MODEL = {"provider": "openai", "name": "fake-slow", "version": "1"}
CASES = 8
SUITE = "name: slowpoke\ncases:\n" + "".join(
    f"  - id: case-{i}\n    vars: {{input: 'question {i}'}}\n    assertions: [{{type: refusal}}]\n"
    for i in range(CASES)
)


@pytest.fixture
def fake() -> Iterator[FakeModel]:
    with running_fake_model("refuse", slow_seconds=0.4) as model:
        yield model


def test_a_killed_server_leaves_the_run_interrupted_and_resume_finishes_it(
    tmp_path: Path, fake: FakeModel
) -> None:
    database = tmp_path / "db.sqlite"
    server = ServerProcess(
        f"sqlite:///{database}",
        tmp_path,
        env={
            "PROMPTSTAGE_EVAL_OPENAI_BASE_URL": fake.openai_base_url,
            "PROMPTSTAGE_EVAL_OPENAI_API_KEY_ENV": "FAKE_MODEL_KEY",
            "FAKE_MODEL_KEY": "not-a-real-key",
            "PROMPTSTAGE_EVAL_CONCURRENCY": "1",
            "PROMPTSTAGE_EVAL_POLL_SECONDS": "0.1",
            "PROMPTSTAGE_EVAL_RUN_STALE_SECONDS": "1.5",
        },
    )
    try:
        server.start()
        http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.admin_key}"},
            timeout=10,
        )

        def call(method: str, path: str, body: Any = None, expect: int = 200) -> Any:
            response = http.request(method, f"/api/v1/projects{path}", json=body)
            assert response.status_code == expect, response.text
            return response.json()

        call("POST", "", {"name": "shop"}, 201)
        call("POST", "/shop/prompts", {"name": "bot", "type": "chat"}, 201)
        version = call(
            "POST",
            "/shop/prompts/bot/versions",
            {"template": [{"role": "system", "content": "Help."}], "config": {"model": MODEL}},
            201,
        )
        call("POST", "/shop/evals/suites", {"text": SUITE}, 201)
        run = call(
            "POST", "/shop/evals/runs", {"suite": "slowpoke", "prompt": "bot", "version": 1}, 201
        )
        path = f"/shop/evals/runs/{run['id']}"
        assert wait_for(lambda: call("GET", path)["progress"]["done"] >= 2, timeout=30)

        server.kill()  # SIGKILL: no shutdown hook marks anything
        server.start()
        assert wait_for(lambda: call("GET", path)["status"] != "running", timeout=15)
        stopped = call("GET", path)
        assert stopped["status"] == "interrupted", stopped
        before = {c["case_id"]: c["at"] for c in stopped["cases"]["items"]}
        assert 2 <= len(before) < CASES and stopped["progress"]["done"] == len(before)

        # the gate, reading the stored runs, blocks on the interrupted run
        store = SqlStore.from_url(f"sqlite:///{database}")
        try:
            with store.unit_of_work() as uow:
                runs = eval_runs.suite_runs(uow, "shop", version["digest"])
                digests = eval_runs.suite_digests(uow, "shop", ["slowpoke"])
        finally:
            store.close()
        snapshot = model_snapshot_digest(MODEL, {})
        policy = {"prod": GatePolicy("prod", (SuiteRequirement("slowpoke"),))}
        decision = decide(policy, "prod", Candidate(version["digest"], snapshot, digests), runs)
        assert not decision.allowed and "interrupted" in decision.reasons[0]

        resumed = call("POST", f"{path}/resume")
        assert resumed["status"] == "queued"
        assert wait_for(lambda: call("GET", path)["status"] == "passed", timeout=30)
        final = call("GET", path)
        cases = final["cases"]["items"]
        assert [c["case_id"] for c in cases] == [f"case-{i}" for i in range(CASES)]
        assert final["progress"] == {"done": CASES, "total": CASES}
        assert {c["case_id"]: c["at"] for c in cases if c["case_id"] in before} == before
        audit = call("GET", "/shop/audit?limit=100")["items"]
        assert "eval.run_resume" in {a["action"] for a in audit}
        http.close()
    finally:
        server.kill()
