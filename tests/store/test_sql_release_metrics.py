"""The controller's aggregates on SQLite and Postgres: distinct units, the fast path's window,
first appearances (issue 15)."""

from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace

import pytest

from promptstage.service import releases
from promptstage.service.context import Context
from support import releases as helpers
from support.releases import PROJECT, PROMPT, USER, FakeClock, bernoulli, traffic

release_store = helpers.release_store
releases_sqlite_template = helpers.releases_sqlite_template
releases_postgres_url = helpers.releases_postgres_url
clock = helpers.clock
ctx = helpers.ctx
seeded = helpers.seeded


@pytest.fixture(autouse=True)
def fixed_salts(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    monkeypatch.setattr(
        releases, "secrets", SimpleNamespace(token_hex=lambda n: rng.randbytes(n).hex())
    )


def test_distinct_units_window_and_first_appearance(seeded: Context, clock: FakeClock) -> None:
    steps = [{"weight_bps": w, "min_duration_seconds": 60} for w in (2500, 5000)]
    r = releases.start_release(
        seeded,
        USER,
        PROJECT,
        prompt=PROMPT,
        label="prod",
        candidate_version=2,
        strategy="ramp",
        steps=steps,
    )
    thumbs = {"thumbs_down": bernoulli(0.2, 0.1)}
    arms = ("canary", "control", "baseline")
    one = traffic(seeded, r, units=200, scores=thumbs, seed=1, users="u", arms=arms)
    clock.advance(1)
    releases.act(seeded, USER, PROJECT, r.id, "advance")
    clock.advance(1)
    r2 = releases.get_release(seeded, PROJECT, r.id)[0]
    since = clock.now - timedelta(microseconds=1)
    two = traffic(
        seeded, r2, units=200, scores=thumbs, seed=2, users="u", arms=arms, calls_per_unit=2
    )
    with seeded.store.unit_of_work() as uow:
        m = uow.release_metrics(r2, (since, clock.now))
    # the same 200 users in both steps; the control side is every baseline-version unit
    # (control and baseline arms), so a user on the baseline in step 1 and on the canary in
    # step 2 counts on both sides, once each
    assert m.distinct["error_rate"]["canary"] == two["canary"]
    assert m.distinct["error_rate"]["control"] == 200 - one["canary"]
    assert m.distinct["thumbs_down"]["canary"] == two["canary"]
    summed = sum(s["canary"].units for s in m.metrics["error_rate"].values())
    assert summed == one["canary"] + two["canary"] > m.distinct["error_rate"]["canary"]
    # the window holds only the second step's calls (two per unit)
    assert m.window["error_rate"]["canary"][0] == 2 * two["canary"]
    assert m.window["error_rate"]["control"][0] == 2 * two["control"]
    assert m.window["thumbs_down"]["canary"][0] == 2 * two["canary"]
    # each unit is first seen once: all 200 in step 0
    assert m.first_seen == {0: dict(one)}
    assert sum(m.first_seen[0].values()) == 200


def test_score_names_before_the_start(seeded: Context, clock: FakeClock) -> None:
    r = releases.start_release(
        seeded, USER, PROJECT, prompt=PROMPT, label="prod", candidate_version=2, strategy="canary"
    )
    traffic(seeded, r, units=100, scores={"csat": bernoulli(0.5, 0.5)}, seed=3, arms=("control",))
    with seeded.store.unit_of_work() as uow:
        later = clock.now + timedelta(seconds=1)
        assert uow.score_names_before(PROJECT, PROMPT, 1, clock.now - timedelta(days=1), later) == [
            "csat"
        ]
        assert (
            uow.score_names_before(PROJECT, PROMPT, 2, clock.now - timedelta(days=1), later) == []
        )
        assert uow.score_names_before(PROJECT, PROMPT, 1, later, later + timedelta(1)) == []
