"""Release use cases on SQLite and Postgres: start, the state machine, completion, label
rollback, the snapshot, and that nothing changes when a request fails."""

from __future__ import annotations

from typing import Any

import pytest

from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.rollout.resolve import resolve
from promptstage.service import labels, releases
from promptstage.service.context import Context
from promptstage.service.snapshot import build_state
from support import releases as releases_helpers
from support.releases import PROJECT, PROMPT, USER, audit_rows

# The releases fixtures (tests/support/releases.py), resolved here before this folder's conftest.
releases_sqlite_template = releases_helpers.releases_sqlite_template
releases_postgres_url = releases_helpers.releases_postgres_url
release_store = releases_helpers.release_store
clock = releases_helpers.clock
ctx = releases_helpers.ctx
published = releases_helpers.published
seeded = releases_helpers.seeded


def start(ctx: Context, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "prompt": PROMPT,
        "label": "prod",
        "candidate_version": 2,
        "strategy": "canary",
    }
    args.update(overrides)
    return releases.start_release(ctx, USER, PROJECT, **args)


def snapshot_of(ctx: Context) -> dict[str, Any]:
    import json

    return json.loads(build_state(ctx, PROJECT).body)


# --- start ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "weights"),
    [("canary", [500]), ("ramp", [500, 2500, 5000, 10000]), ("ab", [5000])],
)
def test_start_uses_the_strategy_defaults(
    seeded: Context, strategy: str, weights: list[int]
) -> None:
    r = start(seeded, strategy=strategy)
    assert [s.weight_bps for s in r.steps] == weights
    assert r.weight_bps == weights[0] and r.step_index == 0 and r.state == "running"
    assert r.baseline_version == 1 and r.candidate_version == 2
    assert r.hash_version == 1 and len(r.salt) == 16
    assert r.steps[0].min_duration_seconds == 3600 and r.steps[0].min_units == 100
    assert r.auto_rollback is True and r.guardrails is None and r.unit_attribute == "user_id"
    assert r.on_insufficient_data == "rollback"


@pytest.mark.parametrize("policy", ["rollback", "pause"])
def test_on_insufficient_data_is_stored_with_the_release(seeded: Context, policy: str) -> None:
    r = start(seeded, on_insufficient_data=policy)
    found, _, _ = releases.get_release(seeded, PROJECT, r.id)
    assert r.on_insufficient_data == found.on_insufficient_data == policy


def test_each_release_gets_its_own_salt(seeded: Context) -> None:
    first = start(seeded)
    releases.act(seeded, USER, PROJECT, first.id, "abort")
    second = start(seeded)
    assert first.salt != second.salt and first.id != second.id


def test_start_records_history_audit_and_event(seeded: Context, published: list[Any]) -> None:
    r = start(seeded, reason="try v2")
    found, history, looks = releases.get_release(seeded, PROJECT, r.id)
    assert found == r and looks == []
    assert [(c.action, c.from_state, c.to_state) for c in history] == [("start", None, "running")]
    assert audit_rows(seeded)[-1].action == "release.start"
    assert published[-1].type == "release.changed"
    wire = published[-1].data["release"]
    assert wire["state"] == "running" and wire["weight_bps"] == 500 and wire["salt"] == r.salt
    assert set(wire["versions"]) == {f"{PROMPT}@1", f"{PROMPT}@2"}


@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        ({"prompt": "nope"}, NotFoundError, "prompt"),
        ({"label": "canary"}, NotFoundError, "label"),
        ({"candidate_version": 9}, NotFoundError, "candidate_version"),
        ({"candidate_version": 1}, InvalidInputError, "candidate_version"),
        ({"candidate_version": "2"}, InvalidInputError, "candidate_version"),
        ({"strategy": "big-bang"}, InvalidInputError, "strategy"),
        ({"strategy": "ramp", "steps": [500, 400]}, InvalidInputError, "steps"),
        ({"strategy": "ramp", "steps": [500, 7500]}, InvalidInputError, "steps"),
        ({"steps": [500, 1000]}, InvalidInputError, "steps"),
        ({"steps": [6000]}, InvalidInputError, "steps"),
        (
            {"strategy": "ramp", "steps": [{"weight_bps": 500, "min_units": 1}]},
            InvalidInputError,
            "steps[0].min_units",
        ),
        ({"strategy": "ramp", "steps": [{"weight": 500}]}, InvalidInputError, "steps[0].weight"),
        (
            {
                "targeting": {
                    "combinator": "and",
                    "rules": [{"field": "channel", "operator": "like", "value": "x"}],
                }
            },
            InvalidInputError,
            "targeting.rules[0].operator",
        ),
        (
            {"guardrails": [{"metric": "csat", "harmful": "sideways"}]},
            InvalidInputError,
            "guardrails[0].harmful",
        ),
        (
            {"guardrails": [{"metric": "csat"}, {"metric": "csat"}]},
            InvalidInputError,
            "guardrails[1].metric",
        ),
        (
            {"guardrails": [{"metric": "csat", "tolerance": -1}]},
            InvalidInputError,
            "guardrails[0].tolerance",
        ),
        (
            {"guardrails": [{"metric": "csat", "colour": "red"}]},
            InvalidInputError,
            "guardrails[0].colour",
        ),
        ({"auto_rollback": "yes"}, InvalidInputError, "auto_rollback"),
        ({"on_insufficient_data": "hold"}, InvalidInputError, "on_insufficient_data"),
        ({"on_insufficient_data": None}, InvalidInputError, "on_insufficient_data"),
    ],
)
def test_start_refuses_bad_requests_and_stores_nothing(
    seeded: Context, overrides: dict[str, Any], error: type[Exception], field: str
) -> None:
    before = (audit_rows(seeded), snapshot_of(seeded))
    with pytest.raises(error) as caught:
        start(seeded, **overrides)
    assert getattr(caught.value, "field", None) == field
    assert (audit_rows(seeded), snapshot_of(seeded)) == before


def test_guardrails_take_known_directions_and_the_error_fast_path(seeded: Context) -> None:
    r = start(
        seeded,
        guardrails=[
            {"metric": "thumbs_down"},
            {"metric": "csat", "tolerance": 0.1},
            {"metric": "error_rate", "min_units": 50},
        ],
    )
    by_metric = {g["metric"]: g for g in r.guardrails}
    assert by_metric["thumbs_down"]["harmful"] == "increase"
    assert by_metric["csat"]["harmful"] == "decrease" and by_metric["csat"]["tolerance"] == 0.1
    assert (
        by_metric["error_rate"]["fast_threshold"] == 0.2
        and by_metric["error_rate"]["min_units"] == 50
    )


def test_one_active_release_per_label(seeded: Context) -> None:
    first = start(seeded)
    with pytest.raises(ConflictError) as caught:
        start(seeded, candidate_version=3)
    assert caught.value.field == "label" and caught.value.details["release_id"] == first.id
    releases.act(seeded, USER, PROJECT, first.id, "pause")
    with pytest.raises(ConflictError):
        start(seeded, candidate_version=3)
    # Another label of the same prompt is independent.
    other = start(seeded, label="staging", candidate_version=3)
    assert other.baseline_version == 2
    releases.act(seeded, USER, PROJECT, first.id, "rollback")
    assert start(seeded, candidate_version=3).baseline_version == 1


# --- the state machine ----------------------------------------------------------------------

ALLOWED = {
    "running": {
        "advance": "running",
        "pause": "paused",
        "promote": "completed",
        "rollback": "rolled_back",
        "abort": "aborted",
    },
    "paused": {
        "resume": "running",
        "promote": "completed",
        "rollback": "rolled_back",
        "abort": "aborted",
    },
    "completed": {},
    "rolled_back": {},
    "aborted": {},
}
REACH = {
    "running": [],
    "paused": ["pause"],
    "completed": ["promote"],
    "rolled_back": ["rollback"],
    "aborted": ["abort"],
}


@pytest.mark.parametrize("state", list(ALLOWED))
@pytest.mark.parametrize("action", releases.ACTIONS)
def test_every_transition(seeded: Context, state: str, action: str) -> None:
    r = start(seeded, strategy="ramp")
    for step in REACH[state]:
        r = releases.act(seeded, USER, PROJECT, r.id, step)
    assert r.state == state
    expected = ALLOWED[state].get(action)
    if expected is None:
        before = audit_rows(seeded)
        with pytest.raises(ConflictError) as caught:
            releases.act(seeded, USER, PROJECT, r.id, action)
        assert state in caught.value.message
        assert audit_rows(seeded) == before
        return
    after = releases.act(seeded, USER, PROJECT, r.id, action, reason=f"test {action}")
    assert after.state == expected
    _, history, _ = releases.get_release(seeded, PROJECT, r.id)
    assert (history[-1].action, history[-1].from_state, history[-1].to_state) == (
        action,
        state,
        expected,
    )
    assert history[-1].reason == f"test {action}" and history[-1].actor == USER
    assert audit_rows(seeded)[-1].action in (f"release.{action}", "label.move")
    weight = {"completed": 10000, "rolled_back": 0, "aborted": 0}.get(expected)
    if weight is not None:
        assert after.weight_bps == weight and after.ended_at is not None


def test_advance_walks_the_ramp_and_into_100_percent_promotes(seeded: Context) -> None:
    r = start(seeded, strategy="ramp")
    r = releases.act(seeded, USER, PROJECT, r.id, "advance")
    assert (r.step_index, r.weight_bps) == (1, 2500)
    r = releases.act(seeded, USER, PROJECT, r.id, "advance")
    assert (r.step_index, r.weight_bps) == (2, 5000)
    r = releases.act(seeded, USER, PROJECT, r.id, "advance")
    assert r.state == "completed" and r.weight_bps == 10000
    assert labels_of(seeded)["prod"] == 2


@pytest.mark.parametrize("strategy", ["canary", "ab"])
def test_single_step_releases_cannot_advance(seeded: Context, strategy: str) -> None:
    r = start(seeded, strategy=strategy)
    with pytest.raises(ConflictError, match="promote"):
        releases.act(seeded, USER, PROJECT, r.id, "advance")


def test_unknown_release_and_action(seeded: Context) -> None:
    with pytest.raises(NotFoundError) as caught:
        releases.act(seeded, USER, PROJECT, "rel_nope", "pause")
    assert caught.value.field == "release_id"
    r = start(seeded)
    with pytest.raises(InvalidInputError):
        releases.act(seeded, USER, PROJECT, r.id, "explode")


def labels_of(ctx: Context) -> dict[str, int]:
    with ctx.store.unit_of_work() as uow:
        return uow.get_labels(PROJECT, PROMPT)


# --- completion, label rollback, label moves -------------------------------------------------


def test_promote_moves_the_label_in_the_same_transaction(
    seeded: Context, published: list[Any]
) -> None:
    r = start(seeded)
    seq_before = published[-1].seq
    done = releases.act(seeded, USER, PROJECT, r.id, "promote", reason="looks good")
    assert done.state == "completed"
    assert labels_of(seeded)["prod"] == 2
    new = [e for e in published if e.seq > seq_before]
    assert [e.type for e in new] == ["release.changed", "label.moved"]
    assert new[0].data["release"]["state"] == "completed"
    assert new[1].data["version"] == 2 and new[1].data["previous"] == 1
    assert new[0].at == new[1].at  # one transaction, one timestamp
    moves, _ = labels.label_history(seeded, PROJECT, PROMPT, "prod")
    assert (moves[0].version, moves[0].previous, moves[0].actor) == (2, 1, USER)
    assert [a.action for a in audit_rows(seeded)[-2:]] == ["release.promote", "label.move"]


def test_a_failed_label_move_during_promotion_changes_nothing(
    seeded: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = start(seeded)
    before = (audit_rows(seeded), labels_of(seeded))

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(releases.promotion, "promote", boom)
    with pytest.raises(RuntimeError):
        releases.act(seeded, USER, PROJECT, r.id, "promote")
    assert (audit_rows(seeded), labels_of(seeded)) == before
    assert releases.get_release(seeded, PROJECT, r.id)[0].state == "running"


def test_label_rollback_ends_the_active_release(seeded: Context, published: list[Any]) -> None:
    r = start(seeded)
    move = labels.rollback_label(seeded, USER, PROJECT, PROMPT, "prod", reason="bad canary")
    assert move is None  # the release was the change: the label stays on its baseline
    found = releases.get_release(seeded, PROJECT, r.id)[0]
    assert found.state == "rolled_back" and found.weight_bps == 0 and found.reason == "bad canary"
    assert labels_of(seeded)["prod"] == 1
    assert (
        published[-1].type == "release.changed"
        and published[-1].data["release"]["state"] == "rolled_back"
    )
    assert snapshot_of(seeded)["releases"] == []


def test_label_rollback_to_a_version_also_moves_the_label(
    seeded: Context, published: list[Any]
) -> None:
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 2)
    r = start(seeded, candidate_version=3)
    move = labels.rollback_label(seeded, USER, PROJECT, PROMPT, "prod", to_version=1)
    assert move is not None and move.version == 1
    assert releases.get_release(seeded, PROJECT, r.id)[0].state == "rolled_back"
    assert [e.type for e in published[-2:]] == ["release.changed", "label.moved"]


@pytest.mark.parametrize("what", ["move", "delete"])
def test_labels_under_a_release_cannot_be_moved_by_hand(seeded: Context, what: str) -> None:
    r = start(seeded)
    with pytest.raises(ConflictError) as caught:
        if what == "move":
            labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)
        else:
            labels.delete_label(seeded, USER, PROJECT, PROMPT, "prod")
    assert caught.value.details["release_id"] == r.id
    releases.act(seeded, USER, PROJECT, r.id, "abort")
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 3)


# --- snapshot and resolution -----------------------------------------------------------------


def test_snapshot_carries_active_releases_and_resolves_through_them(seeded: Context) -> None:
    r = start(
        seeded,
        strategy="ab",
        targeting={
            "combinator": "and",
            "rules": [{"field": "channel", "operator": "=", "value": "whatsapp"}],
        },
    )
    body = snapshot_of(seeded)
    (wire,) = body["releases"]
    assert wire == {
        "id": r.id,
        "prompt": PROMPT,
        "label": "prod",
        "baseline_version": 1,
        "candidate_version": 2,
        "weight_bps": 5000,
        "salt": r.salt,
        "hash_version": 1,
        "targeting": {
            "combinator": "and",
            "not": False,
            "rules": [{"field": "channel", "operator": "=", "value": "whatsapp"}],
        },
        "state": "running",
        "versions": {
            f"{PROMPT}@1": body["versions"][f"{PROMPT}@1"],
            f"{PROMPT}@2": body["versions"][f"{PROMPT}@2"],
        },
    }
    state = build_state(seeded, PROJECT)
    arms = {
        resolve(1, state.releases[(PROMPT, "prod")], f"u{i}", {"channel": "whatsapp"}).arm
        for i in range(50)
    }
    assert arms == {"canary", "control"}
    assert resolve(1, state.releases[(PROMPT, "prod")], "u1", {"channel": "sms"}).arm == "baseline"
    releases.act(seeded, USER, PROJECT, r.id, "pause")
    assert snapshot_of(seeded)["releases"][0]["state"] == "paused"


def test_snapshot_keeps_a_candidate_no_label_points_at(seeded: Context) -> None:
    start(seeded, candidate_version=3, label="staging")
    labels.move_label(seeded, USER, PROJECT, PROMPT, "prod", 2)
    body = snapshot_of(seeded)
    assert f"{PROMPT}@3" in body["versions"] and f"{PROMPT}@2" in body["versions"]


def test_list_filters_and_pages(seeded: Context, clock: Any) -> None:
    ids = []
    for _ in range(3):
        r = start(seeded)
        ids.append(r.id)
        releases.act(seeded, USER, PROJECT, r.id, "abort")
        clock.advance(1)
    running = start(seeded, label="staging", candidate_version=3)
    items, cursor = releases.list_releases(seeded, PROJECT, limit=2)
    assert [r.id for r in items] == [running.id, ids[2]] and cursor
    rest, cursor = releases.list_releases(seeded, PROJECT, limit=2, cursor=cursor)
    assert [r.id for r in rest] == [ids[1], ids[0]] and cursor is None
    assert [r.id for r in releases.list_releases(seeded, PROJECT, state="aborted")[0]] == ids[::-1]
    assert [r.id for r in releases.list_releases(seeded, PROJECT, state="active")[0]] == [
        running.id
    ]
    assert releases.list_releases(seeded, PROJECT, prompt="other")[0] == []
    with pytest.raises(InvalidInputError):
        releases.list_releases(seeded, PROJECT, state="sleeping")
