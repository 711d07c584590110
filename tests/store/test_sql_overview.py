"""The admin UI's reads (``OverviewRepo``): filtered prompt pages, labels, last moves, latest
releases and per-project counts, on every backend."""

from __future__ import annotations

from dataclasses import replace

from store_factories import at, make_prompt, make_version

from promptstage.domain.models import LabelMove
from promptstage.domain.releases import Release, ReleaseStep
from promptstage.store.sql import SqlStore


def _release(prompt: str, label: str, rid: str, state: str, created: float) -> Release:
    return Release(
        id=rid, project="clinic", prompt=prompt, label=label, baseline_version=1,
        candidate_version=2, strategy="canary", steps=(ReleaseStep(500),), step_index=0,
        weight_bps=500, state=state, salt="s", hash_version=1, unit_attribute="user_id",
        targeting=None, guardrails=None, auto_rollback=True, flags=(), reason="",
        created_by="ana", created_at=at(created), updated_at=at(created),
        step_started_at=at(created), ended_at=None if state in ("running", "paused") else at(created + 1),
    )  # fmt: skip


def _seed(store: SqlStore) -> None:
    with store.unit_of_work(write=True) as uow:
        uow.create_project("clinic", "", at())
        uow.create_project("empty", "", at())
        uow.create_project("other", "", at())
        specs = {
            "booking.system": ("voice", "Booking"),
            "booking.router": ("voice",),
            "billing.system": ("chat",),
            "triage": (),
            "100%_off": ("promo",),
        }
        for name, tags in specs.items():
            uow.add_prompt(make_prompt("clinic", name, tags=tags))
            for number in (1, 2):
                uow.add_version("clinic", make_version(name, number))
        uow.add_prompt(make_prompt("other", "booking.system"))
        uow.add_version("other", make_version("booking.system", 1))
        uow.set_label("other", "booking.system", "qa", 1, at())
        for name, label, version in (
            ("booking.system", "prod", 1),
            ("booking.system", "staging", 2),
            ("booking.router", "prod", 2),
            ("triage", "dev", 1),
        ):
            uow.set_label("clinic", name, label, version, at())
        moves = [
            LabelMove("booking.system", "prod", 2, None, "ana", "first", at(1)),
            LabelMove("booking.system", "prod", 1, 2, "bob", "bad answers", at(2), "rollback"),
            LabelMove("booking.system", "staging", 2, None, "ana", "", at(3)),
            LabelMove("booking.router", "prod", 2, None, "eve", "ship", at(4)),
        ]
        for move in moves:
            uow.add_label_move("clinic", move)
        uow.add_label_move("other", LabelMove("booking.system", "qa", 1, None, "x", "", at(9)))


def test_search_prompts_filters_by_name_tag_and_label(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work() as uow:

        def names(**kw: object) -> list[str]:
            args: dict[str, object] = {"contains": None, "tag": None, "label": None}
            args.update(kw)
            return [
                p.name
                for p in uow.search_prompts("clinic", limit=100, after=None, **args)  # type: ignore[arg-type]
            ]

        everything = ["100%_off", "billing.system", "booking.router", "booking.system", "triage"]
        assert names() == everything
        assert names(contains="SYSTEM") == ["billing.system", "booking.system"]
        assert names(contains="%") == ["100%_off"]  # LIKE wildcards are matched literally
        assert names(contains="_") == ["100%_off"]
        assert names(tag="voice") == ["booking.router", "booking.system"]
        assert names(tag="voic") == []
        assert names(label="prod") == ["booking.router", "booking.system"]
        assert names(label="latest") == everything
        assert names(label="qa") == []  # another project's label
        assert names(contains="booking", tag="Booking", label="staging") == ["booking.system"]
        page = uow.search_prompts(
            "clinic", contains=None, tag=None, label=None, limit=2, after="billing.system"
        )
        assert [p.name for p in page] == ["booking.router", "booking.system"]
        assert page[1].tags == ("voice", "Booking")


def test_labels_in_use_and_labels_of_a_page(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work() as uow:
        assert uow.labels_in_use("clinic") == ["dev", "prod", "staging"]
        assert uow.labels_in_use("empty") == []
        assert uow.labels_of("clinic", ["booking.system", "billing.system", "triage"]) == {
            "booking.system": {"prod": 1, "staging": 2},
            "triage": {"dev": 1},
        }
        assert uow.labels_of("clinic", []) == {}


def test_last_label_moves_are_the_newest_per_label(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work() as uow:
        last = uow.last_label_moves("clinic", ["booking.system", "booking.router", "triage"])
        assert uow.last_label_moves("clinic", []) == {}
    assert set(last) == {
        ("booking.system", "prod"),
        ("booking.system", "staging"),
        ("booking.router", "prod"),
    }
    prod = last[("booking.system", "prod")]
    assert (prod.actor, prod.version, prod.previous, prod.kind) == ("bob", 1, 2, "rollback")
    assert prod.reason == "bad answers" and prod.at == at(2)


def test_prompt_moves_cover_every_label_newest_first(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work() as uow:
        moves = uow.prompt_moves("clinic", "booking.system", limit=10, before=None)
        assert [(m.label, m.version) for _, m in moves] == [
            ("staging", 2), ("prod", 1), ("prod", 2),
        ]  # fmt: skip
        older = uow.prompt_moves("clinic", "booking.system", limit=1, before=moves[0][0])
        assert [m.label for _, m in older] == ["prod"] and older[0][1].actor == "bob"


def test_latest_release_per_label(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work(write=True) as uow:
        uow.add_release(_release("booking.system", "prod", "r1", "completed", 10))
        uow.add_release(_release("booking.system", "prod", "r2", "rolled_back", 20))
        uow.add_release(_release("booking.system", "staging", "r3", "running", 30))
        uow.add_release(_release("triage", "dev", "r4", "paused", 5))
    with store.unit_of_work() as uow:
        found = uow.latest_releases("clinic", ["booking.system", "booking.router"])
        assert uow.latest_releases("clinic", []) == {}
    assert {key: r.id for key, r in found.items()} == {
        ("booking.system", "prod"): "r2",
        ("booking.system", "staging"): "r3",
    }
    assert found[("booking.system", "prod")] == replace(
        _release("booking.system", "prod", "r2", "rolled_back", 20)
    )


def test_prompt_counts_count_agents_by_the_first_dot_segment(store: SqlStore) -> None:
    _seed(store)
    with store.unit_of_work() as uow:
        counts = uow.prompt_counts(["clinic", "other", "empty", "missing"])
        assert uow.prompt_counts([]) == {}
    # booking.{system,router} -> booking; billing.system -> billing; triage; 100%_off
    assert counts == {"clinic": (5, 4), "other": (1, 1)}
