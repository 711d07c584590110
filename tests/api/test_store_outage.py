"""The store unreachable, in process, on SQLite and Postgres: a store whose every unit of work
and ping raise ``ServiceUnavailableError`` while it is switched off (the real-process test with
a cut Postgres link is ``tests/e2e/outage/test_database_outage.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from promptstage.errors import ServiceUnavailableError
from promptstage.server import create_app
from promptstage.settings import Settings
from promptstage.store.sql import SqlStore

from .client import ADMIN_KEY, Api, text_version

P = "/api/v1/projects"


class Switchable:
    """``store`` with an off switch: while off, nothing reaches the database."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ServiceUnavailableError("the database at test cannot be reached (switched off)")

    def ping(self) -> None:
        self._check()
        self._store.ping()

    @contextmanager
    def unit_of_work(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._check()
        with self._store.unit_of_work(*args, **kwargs) as uow:
            yield uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def outage(
    make_store: Callable[[], SqlStore],
) -> Iterator[tuple[Api, Switchable]]:
    store = Switchable(make_store())
    settings = Settings(
        admin_key=ADMIN_KEY,
        state_check_seconds=0.0,
        auth_cache_seconds=0.0,
        eval_gate=False,
    )
    with asyncio.Runner() as runner:
        app = create_app(settings, store=store)  # type: ignore[arg-type]
        yield Api(runner, app, ADMIN_KEY), store


def _setup(admin: Api) -> tuple[str, str]:
    admin.ok("POST", P, 201, json={"name": "clinic"})
    admin.ok("POST", f"{P}/clinic/prompts", 201, json={"name": "greet", "type": "text"})
    admin.ok("POST", f"{P}/clinic/prompts/greet/versions", 201, json=text_version("Hi."))
    admin.ok("PUT", f"{P}/clinic/prompts/greet/labels/staging", json={"version": 1})
    token = admin.ok("POST", f"{P}/clinic/keys", 201, json={"role": "runtime"})["token"]
    return "clinic", str(token)


def test_runtime_reads_are_served_stale_and_writes_fail(outage: tuple[Api, Switchable]) -> None:
    admin, store = outage
    project, token = _setup(admin)
    rt = admin.as_key(token)
    assert rt.get(f"{P}/{project}/prompts/greet/resolve?label=staging").status_code == 200
    assert "x-promptstage-store" not in rt.get(f"{P}/{project}/snapshot").headers

    store.down = True
    read = rt.get(f"{P}/{project}/prompts/greet/resolve?label=staging")
    assert read.status_code == 200 and read.json()["version"] == 1
    assert read.headers["x-promptstage-store"] == "unreachable"
    assert read.headers["age"] == read.headers["x-promptstage-stale-seconds"]
    ready = admin.as_key(None).get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    refused = admin.post(f"{P}/{project}/prompts/greet/labels/staging/rollback", json={})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
    unknown = admin.get(f"{P}/other/snapshot")
    assert unknown.status_code == 503 and "holds no state" in unknown.text

    store.down = False
    back = rt.get(f"{P}/{project}/prompts/greet/resolve?label=staging")
    assert back.status_code == 200 and "x-promptstage-store" not in back.headers
    assert admin.as_key(None).ok("GET", "/readyz")["status"] == "ready"


def test_nothing_held_readyz_is_503(outage: tuple[Api, Switchable]) -> None:
    admin, store = outage
    store.down = True
    ready = admin.as_key(None).get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and "cannot be reached" in ready.json()["reason"]


def test_a_key_verified_before_the_outage_works_within_the_grace_only(
    make_store: Callable[[], SqlStore],
) -> None:
    for grace, expected in ((3600.0, 200), (0.0, 503)):
        store = Switchable(make_store())
        settings = Settings(
            admin_key=ADMIN_KEY,
            state_check_seconds=0.0,
            auth_cache_seconds=0.0,  # every request past the first asks the database
            auth_outage_grace_seconds=grace,
            eval_gate=False,
        )
        with asyncio.Runner() as runner:
            admin = Api(runner, create_app(settings, store=store), ADMIN_KEY)  # type: ignore[arg-type]
            project, token = _setup(admin) if grace else ("clinic", _reuse(admin))
            rt = admin.as_key(token)
            assert rt.get(f"{P}/{project}/snapshot").status_code == 200
            store.down = True
            assert rt.get(f"{P}/{project}/snapshot").status_code == expected, grace


def _reuse(admin: Api) -> str:
    """A runtime key of the project the first round made (same database)."""
    return str(admin.ok("POST", f"{P}/clinic/keys", 201, json={"role": "runtime"})["token"])


def test_with_a_periodic_recheck_an_outage_turns_answers_stale(
    make_store: Callable[[], SqlStore],
) -> None:
    """With ``state_check_seconds > 0`` a warm resolve is answered from memory (the fast path)
    while the due re-check runs in the background; once that re-check has failed, answers
    carry the stale headers (the fast path leaves them to the route)."""
    store = Switchable(make_store())
    settings = Settings(
        admin_key=ADMIN_KEY, state_check_seconds=60.0, auth_cache_seconds=60.0, eval_gate=False
    )
    with asyncio.Runner() as runner:
        app = create_app(settings, store=store)  # type: ignore[arg-type]
        admin = Api(runner, app, ADMIN_KEY)
        project, token = _setup(admin)
        rt = admin.as_key(token)
        url = f"{P}/{project}/prompts/greet/resolve?label=staging"
        assert rt.get(url).status_code == 200
        cache = app.state.state_cache
        cache.read(project).state.checked_at -= 120.0  # the re-check is due
        store.down = True
        first = rt.get(url)  # answered from memory; the re-check starts and fails
        assert first.status_code == 200 and "x-promptstage-store" not in first.headers
        deadline = time.monotonic() + 10.0
        while cache.unreachable is None and time.monotonic() < deadline:
            time.sleep(0.01)
        later = rt.get(url)
        assert later.status_code == 200 and later.json()["version"] == 1
        assert later.headers["x-promptstage-store"] == "unreachable"
        cache.close()
