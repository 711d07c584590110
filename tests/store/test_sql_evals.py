"""Eval suites, runs and case results, on every backend."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_factories import at, seed

from promptstage.domain.evals import EvalCaseRecord, EvalRun, EvalRunStatus, EvalSuiteRecord
from promptstage.errors import ConflictError, NotFoundError
from promptstage.store.sql import SqlStore


def _suite(version: int, digest: str, name: str = "smoke") -> EvalSuiteRecord:
    body = {"name": name, "cases": [{"id": "a", "n": 1e16}], "v": version}
    return EvalSuiteRecord("clinic", name, version, digest, body, "ana", at(version))


def _run(run_id: str, seconds: float = 0, **overrides: object) -> EvalRun:
    fields: dict[str, object] = {
        "id": run_id, "project": "clinic", "suite": "smoke", "suite_version": 1,
        "suite_digest": "sha256:s1", "prompt": "greet", "version": 1, "version_digest": "sha256:v1",
        "model": {"provider": "openai", "name": "gpt-4o", "version": "x"}, "params": {"t": 0.2},
        "model_snapshot": "sha256:m1", "status": EvalRunStatus.QUEUED, "total": 2,
        "actor": "ana", "created_at": at(seconds),
    }  # fmt: skip
    fields.update(overrides)
    return EvalRun(**fields)  # type: ignore[arg-type]


def _case(run_id: str, case_id: str, index: int, **overrides: object) -> EvalCaseRecord:
    fields: dict[str, object] = {
        "run_id": run_id, "case_id": case_id, "index": index,
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "response": {"text": "no", "tool_calls": []},
        "assertions": [{"name": "refusal", "passed": True}], "passed": True, "error": None,
        "needs_judge": False, "deterministic_passed": True, "has_deterministic": True,
        "at": at(index), "tokens_in": 10, "tokens_out": 5, "latency_ms": 12.5, "cost": 0.001,
    }  # fmt: skip
    fields.update(overrides)
    return EvalCaseRecord(**fields)  # type: ignore[arg-type]


def test_suite_versions_are_immutable_and_digested(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_eval_suite(_suite(1, "sha256:a"))
        uow.add_eval_suite(_suite(2, "sha256:b"))
        uow.add_eval_suite(_suite(1, "sha256:c", name="other"))
        with pytest.raises(ConflictError):
            uow.add_eval_suite(_suite(3, "sha256:a"))  # same digest twice
        with pytest.raises(ConflictError):
            uow.add_eval_suite(_suite(2, "sha256:d"))  # same version twice
        with pytest.raises(NotFoundError):
            uow.add_eval_suite(replace(_suite(1, "sha256:e"), project="nope"))
    with store.unit_of_work() as uow:
        assert uow.get_eval_suite("clinic", "smoke") == _suite(2, "sha256:b")
        assert uow.get_eval_suite("clinic", "smoke", 1) == _suite(1, "sha256:a")
        assert uow.get_eval_suite("clinic", "smoke", 9) is None
        assert uow.get_eval_suite_by_digest("clinic", "smoke", "sha256:a") == _suite(1, "sha256:a")
        assert [(s.name, s.version) for s in uow.list_eval_suites("clinic")] == [
            ("other", 1),
            ("smoke", 2),
        ]
        assert [s.version for s in uow.list_eval_suite_versions("clinic", "smoke")] == [2, 1]
        assert uow.get_eval_suite("clinic", "smoke", 1).body["cases"][0]["n"] == 1e16  # type: ignore[union-attr]


def test_a_run_is_claimed_once_and_counts_its_cases(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_eval_run(_run("r1"))
        uow.add_eval_run(_run("r2", 1))
    with store.unit_of_work(write=True) as uow:
        assert uow.queued_eval_runs(limit=10) == ["r1", "r2"]
        assert uow.claim_eval_run("r1", "me", at(5))
        assert not uow.claim_eval_run("r1", "other", at(5))  # two replicas never share a run
        assert not uow.add_eval_case("other", _case("r1", "a", 0))  # not its claim
        assert uow.add_eval_case("me", _case("r1", "a", 0))
        assert uow.add_eval_case(
            "me", _case("r1", "b", 1, passed=False, error="HTTP 500", cost=None)
        )
        assert uow.heartbeat_eval_run("r1", "me", at(6))
        assert not uow.heartbeat_eval_run("r1", "other", at(6))
    with store.unit_of_work() as uow:
        run = uow.get_eval_run("r1")
        assert run is not None
        assert (run.status, run.done, run.passed_cases, run.error_cases) == (
            EvalRunStatus.RUNNING,
            2,
            1,
            1,
        )
        assert (run.tokens_in, run.tokens_out, run.cost) == (20, 10, pytest.approx(0.001))
        assert run.started_at == at(5) and run.owner == "me"
        assert uow.eval_case_ids("r1") == {"a", "b"}
        cases = uow.list_eval_cases("r1", limit=1)
        assert cases == [_case("r1", "a", 0)]
        assert [c.case_id for c in uow.list_eval_cases("r1", limit=5, after=0)] == ["b"]
    with store.unit_of_work(write=True) as uow:
        assert not uow.finish_eval_run("r1", "other", EvalRunStatus.PASSED, at(7), None)
        assert uow.finish_eval_run("r1", "me", EvalRunStatus.ERROR, at(7), None)
        assert not uow.add_eval_case("me", _case("r1", "c", 2))  # finished: no more writes
    with store.unit_of_work() as uow:
        run = uow.get_eval_run("r1")
        assert run is not None and run.status is EvalRunStatus.ERROR and run.finished_at == at(7)


def test_stale_runs_are_interrupted_and_resumed(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_eval_run(_run("dead"))
        uow.add_eval_run(_run("alive", 1))
        assert uow.claim_eval_run("dead", "gone", at(1))
        assert uow.claim_eval_run("alive", "here", at(10))
    with store.unit_of_work(write=True) as uow:
        assert uow.interrupt_stale_eval_runs(at(5), at(11)) == ["dead"]
        assert not uow.heartbeat_eval_run("dead", "gone", at(12))  # the old owner lost it
        assert not uow.set_eval_run_status(
            "alive", [EvalRunStatus.INTERRUPTED], EvalRunStatus.QUEUED, at(12)
        )
        assert uow.set_eval_run_status(
            "dead", [EvalRunStatus.INTERRUPTED], EvalRunStatus.QUEUED, at(12)
        )
        assert uow.set_eval_run_status(
            "alive", [EvalRunStatus.QUEUED, EvalRunStatus.RUNNING], EvalRunStatus.CANCELLED, at(13)
        )
    with store.unit_of_work() as uow:
        dead, alive = uow.get_eval_run("dead"), uow.get_eval_run("alive")
        assert dead is not None and dead.status is EvalRunStatus.QUEUED and dead.owner is None
        assert alive is not None and alive.status is EvalRunStatus.CANCELLED
        assert alive.finished_at == at(13)


def test_runs_by_version_digest_and_pages(store: SqlStore) -> None:
    seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_eval_run(_run("b", 2))
        uow.add_eval_run(_run("a", 1))
        uow.add_eval_run(_run("c", 3, version_digest="sha256:v2"))
        uow.add_eval_run(_run("r", 4, replay_id="rp", replay_role="candidate"))
        with pytest.raises(ConflictError):
            uow.add_eval_run(_run("a", 1))
    with store.unit_of_work() as uow:
        assert [r.id for r in uow.eval_runs_of_version("clinic", "sha256:v1")] == ["a", "b"]
        assert [r.id for r in uow.eval_runs_of_replay("clinic", "rp")] == ["r"]
        page = uow.list_eval_runs("clinic", suite=None, prompt=None, limit=2, before=None)
        assert [r.id for r in page] == ["r", "c"]
        rest = uow.list_eval_runs(
            "clinic", suite="smoke", prompt="greet", limit=5, before=(at(3), "c")
        )
        assert [r.id for r in rest] == ["b", "a"]


_outcome = st.tuples(
    st.sampled_from(["passed", "failed", "error"]),
    st.integers(0, 10_000),
    st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
    st.booleans(),  # written by the run's owner (True) or by another runner (False)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(outcomes=st.lists(_outcome, max_size=12))
def test_progress_counts_exactly_the_owners_cases(
    store: SqlStore, outcomes: list[tuple[str, int, float | None, bool]]
) -> None:
    with store.unit_of_work(write=True) as uow:
        if uow.get_project("clinic") is None:
            uow.create_project("clinic", "a project", at())
    run_id = f"prop-{uuid.uuid4().hex[:12]}"
    with store.unit_of_work(write=True) as uow:
        uow.add_eval_run(_run(run_id, total=len(outcomes)))
        assert uow.claim_eval_run(run_id, "me", at(1))
    for i, (kind, tokens, cost, mine) in enumerate(outcomes):
        case = _case(
            run_id, f"c{i}", i, passed=kind == "passed", error="boom" if kind == "error" else None,
            tokens_in=tokens, tokens_out=1, cost=cost,
        )  # fmt: skip
        with store.unit_of_work(write=True) as uow:
            assert uow.add_eval_case("me" if mine else "intruder", case) is mine
    accepted = [o for o in outcomes if o[3]]
    with store.unit_of_work() as uow:
        run = uow.get_eval_run(run_id)
        assert run is not None
        assert (run.done, run.passed_cases, run.failed_cases, run.error_cases) == (
            len(accepted),
            sum(o[0] == "passed" for o in accepted),
            sum(o[0] == "failed" for o in accepted),
            sum(o[0] == "error" for o in accepted),
        )
        assert run.tokens_in == sum(o[1] for o in accepted)
        costs = [o[2] for o in accepted if o[2] is not None]
        assert run.cost == (pytest.approx(sum(costs)) if costs else None)
        assert len(uow.eval_case_ids(run_id)) == len(accepted)
