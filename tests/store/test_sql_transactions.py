"""Units of work: commit, rollback, read-only, availability and concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from store_factories import at, make_prompt, make_version, seed

from promptstage.domain.audit import verify_chain
from promptstage.errors import ConfigurationError, ServiceUnavailableError
from promptstage.store.sql import SqlStore


class Boom(Exception):
    pass


def test_a_failed_unit_of_work_leaves_nothing_behind(store: SqlStore) -> None:
    seed(store, versions=1)
    with pytest.raises(Boom), store.unit_of_work(write=True) as uow:
        uow.lock_project("clinic")
        uow.create_project("other", "", at())
        uow.add_prompt(make_prompt("clinic", "router"))
        uow.add_version("clinic", make_version("greet", 2))
        uow.set_label("clinic", "greet", "prod", 2, at())
        uow.append_audit(
            "clinic", actor="a", action="x", target="t", before=None, after=1, reason="",
            at=at(),
        )  # fmt: skip
        uow.append_event("clinic", "x", {}, at())
        raise Boom
    with store.unit_of_work() as uow:
        assert uow.get_project("other") is None
        assert uow.get_prompt("clinic", "router") is None
        assert uow.get_version("clinic", "greet", 2) is None
        prompt = uow.get_prompt("clinic", "greet")
        assert prompt is not None and prompt.latest_version == 1
        assert uow.get_labels("clinic", "greet") == {}
        assert list(uow.iter_audit("clinic")) == []
        assert uow.last_event_seq("clinic") == 0
        assert uow.events_since("clinic", 0, limit=10) == []
    # The counters rolled back too: the next rows start at 1 again.
    with store.unit_of_work(write=True) as uow:
        assert uow.append_event("clinic", "x", {}, at()).seq == 1


def test_writes_need_a_write_unit_of_work(store: SqlStore) -> None:
    with pytest.raises(RuntimeError, match="write=True"), store.unit_of_work() as uow:
        uow.create_project("clinic", "", at())


def test_a_second_store_sees_committed_work(
    store: SqlStore, make_store: Callable[[], SqlStore]
) -> None:
    seed(store)
    with make_store().unit_of_work() as uow:
        assert uow.get_project("clinic") is not None


def test_ping(store: SqlStore) -> None:
    store.ping()


def test_unreachable_postgres_is_service_unavailable() -> None:
    # Port 1 on localhost refuses connections immediately.
    store = SqlStore.from_url("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    try:
        with pytest.raises(ServiceUnavailableError, match="cannot be reached") as info:
            store.ping()
        assert "secret" not in info.value.message
        with pytest.raises(ServiceUnavailableError), store.unit_of_work() as uow:
            uow.list_projects()
    finally:
        store.close()


def test_unopenable_sqlite_is_service_unavailable(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path}")  # a directory, not a database file
    try:
        with pytest.raises(ServiceUnavailableError, match="cannot be reached"):
            store.ping()
    finally:
        store.close()


def test_uncreatable_sqlite_folder_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="writable path"):
        SqlStore.from_url(f"sqlite:///{blocker}/sub/promptstage.db")


def test_unsupported_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="sqlite:///"):
        SqlStore.from_url("mysql://localhost/db")


THREADS = 20
ROUNDS = 4


def test_concurrent_writers_never_fork(store: SqlStore) -> None:
    """Every round all threads race to move ``prod`` from version r to r+1; one may win."""
    seed(store, versions=ROUNDS + 1)
    with store.unit_of_work(write=True) as uow:
        uow.set_label("clinic", "greet", "prod", 1, at())

    def attempt(barrier: threading.Barrier, expected: int, worker: int) -> bool:
        barrier.wait()
        with store.unit_of_work(write=True) as uow:
            uow.lock_project("clinic")
            if uow.get_labels("clinic", "greet").get("prod") != expected:
                return False
            uow.set_label("clinic", "greet", "prod", expected + 1, at(expected))
            uow.append_audit(
                "clinic", actor=f"worker-{worker}", action="label.move", target="greet/prod",
                before={"version": expected}, after={"version": expected + 1}, reason="race",
                at=at(expected),
            )  # fmt: skip
            uow.append_event("clinic", "label.moved", {"version": expected + 1}, at(expected))
            return True

    with ThreadPoolExecutor(THREADS) as pool:
        for expected in range(1, ROUNDS + 1):
            barrier = threading.Barrier(THREADS)
            outcomes = list(
                pool.map(lambda w, e=expected, b=barrier: attempt(b, e, w), range(THREADS))
            )
            assert outcomes.count(True) == 1, f"round {expected}: {outcomes.count(True)} winners"

    with store.unit_of_work() as uow:
        records = list(uow.iter_audit("clinic"))
        report = verify_chain(records)
        assert uow.get_labels("clinic", "greet") == {"prod": ROUNDS + 1}
        assert [event.seq for event in uow.events_since("clinic", 0, limit=100)] == list(
            range(1, ROUNDS + 1)
        )
    assert report.ok and report.checked == ROUNDS
    assert len({record.prev_hash for record in records}) == len(records)  # no fork
