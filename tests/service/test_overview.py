"""The overview's pure pieces: release badges, label order, agents, filters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from promptstage.domain.models import LabelMove
from promptstage.domain.releases import Release, ReleaseStep
from promptstage.errors import InvalidInputError
from promptstage.service.overview import Filters, agent_of, order_labels, release_badge

T0 = datetime(2026, 12, 7, tzinfo=UTC)
RELEASE = Release(
    id="r1", project="p", prompt="a.b", label="prod", baseline_version=1, candidate_version=2,
    strategy="canary", steps=(ReleaseStep(500),), step_index=0, weight_bps=500, state="running",
    salt="s", hash_version=1, unit_attribute="user_id", targeting=None, guardrails=None,
    auto_rollback=True, flags=(), reason="", created_by="x", created_at=T0, updated_at=T0,
    step_started_at=T0,
)  # fmt: skip


def _move(at: datetime) -> LabelMove:
    return LabelMove("a.b", "prod", 1, 2, "bob", "", at)


def test_badges_say_what_the_release_does() -> None:
    ramp = replace(
        RELEASE, strategy="ramp", steps=tuple(ReleaseStep(w) for w in (500, 2500, 5000, 10000)),
        step_index=1, weight_bps=2500,
    )  # fmt: skip
    cases = {
        RELEASE: ("canary 5 %", "info"),
        replace(RELEASE, weight_bps=250): ("canary 2.5 %", "info"),
        ramp: ("ramp step 2/4 · 25 %", "info"),
        replace(RELEASE, strategy="ab", weight_bps=5000): ("A/B 50/50", "info"),
        replace(RELEASE, strategy="ab", weight_bps=1000): ("A/B 90/10", "info"),
        replace(RELEASE, state="paused"): ("paused · canary 5 %", "warn"),
    }
    for release, (text, tone) in cases.items():
        badge = release_badge(release, None)
        assert badge is not None and (badge.text, badge.tone, badge.release_id) == (
            text,
            tone,
            "r1",
        )


def test_regressed_until_the_label_moves_again() -> None:
    ended = T0 + timedelta(hours=1)
    rolled = replace(RELEASE, state="rolled_back", ended_at=ended)
    for before in (None, _move(T0)):
        badge = release_badge(rolled, before)
        assert badge is not None and (badge.text, badge.tone) == ("regressed · rolled back", "bad")
    assert release_badge(rolled, _move(ended + timedelta(seconds=1))) is None
    for state in ("completed", "aborted"):
        assert release_badge(replace(RELEASE, state=state, ended_at=ended), None) is None
    assert release_badge(None, _move(T0)) is None


def test_prod_and_staging_come_first() -> None:
    assert order_labels({"dev", "staging", "prod", "canary"}) == (
        "prod",
        "staging",
        "canary",
        "dev",
    )
    assert order_labels({"dev", "staging"}) == ("staging", "dev")
    assert order_labels(set()) == ()


def test_an_agent_is_the_name_up_to_the_first_dot() -> None:
    assert agent_of("booking.system") == "booking"
    assert agent_of("booking.router.v2") == "booking"
    assert agent_of("triage") == "triage"


def test_filters_are_trimmed_and_checked() -> None:
    assert Filters.parse("  book ", None, " prod ") == Filters("book", "", "prod")
    assert Filters.parse(None, None, "latest").label == "latest"
    for q, tag, label, field in (
        ("x" * 129, None, None, "q"), (None, "t" * 65, None, "tag"), (None, None, "Prod!", "label"),
    ):  # fmt: skip
        with pytest.raises(InvalidInputError) as refused:
            Filters.parse(q, tag, label)
        assert refused.value.field == field
