"""``serve --demo``: two releaser keys, created (and returned once) with the demo project."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from promptstage.domain.models import Role
from promptstage.evals.gate_policy import SECURITY_SUITE
from promptstage.service import demo, eval_suites, sessions, users
from promptstage.service.bus import EventBus
from promptstage.service.context import Context
from promptstage.service.demo_evals import DEMO_SUITE
from promptstage.service.eval_policy import gate_policies, gated_labels
from promptstage.store.sql import SqlStore


def test_the_demo_seeds_two_releasers_once(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'd.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        tokens = demo.seed_demo(ctx)
        assert len(tokens) == 2 and len(set(tokens)) == 2
        assert demo.seed_demo(ctx) == []  # shown once; never stored in plain text
        with store.unit_of_work() as uow:
            keys = uow.list_keys(demo.PROJECT)
            assert sorted(k.name for k in keys if k.role is Role.releaser) == ["alice", "bob"]
            assert sorted(k.principal for k in keys) == ["alice", "bob"]  # two people
            assert {p.kind.value for p in uow.list_principals(demo.PROJECT)} == {"person"}
            assert all(uow.get_key(t.split("_")[1]) is not None for t in tokens)
            assert all(t.split("_")[2] not in uow.get_key(t.split("_")[1])[1] for t in tokens)  # type: ignore[index]
    finally:
        store.close()


def test_the_demo_ui_users_are_seeded_once_with_a_generated_password(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'd.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        demo.seed_demo(ctx)
        shown = demo.seed_demo_users(ctx, None)
        assert shown is not None and len(shown) >= 12
        assert demo.seed_demo_users(ctx, None) is None  # shown once, then never again
        listed = users.list_users(ctx, demo.PROJECT)
        assert [(u.name, u.role.value) for u in listed] == [
            ("alice", "releaser"),
            ("bob", "releaser"),
            ("erin", "editor"),
        ]
        for name, _ in demo.UI_USERS:
            signed = sessions.sign_in(ctx, name, shown, absolute=timedelta(hours=1))
            assert signed.user.name == name
        assert demo.seed_demo_users(ctx, "some other passphrase") is None  # kept, not reset
    finally:
        store.close()


def test_a_given_demo_password_is_used_and_shown_every_start(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'd.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        demo.seed_demo(ctx)
        given = "demo passphrase 42"
        assert demo.seed_demo_users(ctx, given) == given
        assert demo.seed_demo_users(ctx, given) == given
        sessions.sign_in(ctx, "erin", given, absolute=timedelta(hours=1))
    finally:
        store.close()


def test_the_demo_has_a_gate_on_prod_and_its_own_suite_pushed_once(tmp_path: Path) -> None:
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'd.db'}", migrate=True)
    try:
        ctx = Context(store=store, bus=EventBus())
        demo.seed_demo(ctx)
        demo.seed_demo(ctx)  # re-seeding pushes nothing new
        suites = {s.name: s for s in eval_suites.list_suites(ctx, demo.PROJECT)}
        pushed = suites[DEMO_SUITE]
        assert (pushed.version, pushed.builtin) == (1, False)
        assert SECURITY_SUITE in suites  # the built-in beside it
        with store.unit_of_work() as uow:
            settings = uow.project_settings(demo.PROJECT)
            booking = uow.get_version(demo.PROJECT, "booking.system", 3)
        assert settings is not None and booking is not None
        assert gated_labels(settings) == ["prod"]
        assert [r.suite for r in gate_policies(settings)["prod"].requirements] == [SECURITY_SUITE]
        # Every case fills booking.system's variables and allows exactly its tools.
        declared = {v["name"] for v in booking.variables}
        tools = {t["name"] for t in booking.config["tools"]}
        for case in pushed.suite.cases:
            assert declared <= set(case.vars), case.id
            for spec in case.assertions:
                if spec.type == "tool-calls":
                    assert set(spec.params["allowed"]) <= tools, case.id
    finally:
        store.close()
