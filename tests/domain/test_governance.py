"""Is a settings change weaker (domain/governance.py ``weakenings``)?"""

from __future__ import annotations

import pytest

from promptstage.domain.governance import (
    ProjectSettings,
    settings_from_json,
    settings_json,
    weakenings,
)

ON = ProjectSettings(("prod", "staging"), True)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (ON, []),
        (ProjectSettings(("staging", "prod"), True), []),  # order is not protection
        (ProjectSettings(("prod", "staging", "beta"), True), []),
        (ProjectSettings(("prod", "staging"), False), ["four_eyes turned off"]),
        (ProjectSettings(("prod",), True), ["labels no longer protected: staging"]),
        (
            ProjectSettings(("beta",), False),
            ["four_eyes turned off", "labels no longer protected: prod, staging"],
        ),
    ],
)
def test_weakenings(after: ProjectSettings, expected: list[str]) -> None:
    assert weakenings(ON, after) == expected


def test_turning_four_eyes_on_is_never_weaker() -> None:
    assert weakenings(ProjectSettings(("prod",), False), ProjectSettings(("prod",), True)) == []


def test_the_wire_form_round_trips() -> None:
    assert settings_from_json(settings_json(ON)) == ON


@pytest.mark.parametrize(
    ("before", "after", "weaker"),
    [
        (None, 30, False),  # a limit where there was none: stronger
        (30, 7, False),  # a shorter limit: stronger
        (30, 30, False),
        (30, 90, True),  # people's keys may live longer
        (30, None, True),  # the limit dropped
    ],
)
def test_a_longer_key_lifetime_is_weaker(
    before: int | None, after: int | None, weaker: bool
) -> None:
    found = weakenings(
        ProjectSettings(("prod",), True, before), ProjectSettings(("prod",), True, after)
    )
    assert bool(found) is weaker
    if weaker:
        assert found == [f"people's keys may live longer: {before} -> {after or 'no limit'} days"]


def test_the_wire_form_round_trips_the_key_lifetime() -> None:
    limited = ProjectSettings(("prod",), True, 30)
    assert settings_from_json(settings_json(limited)) == limited
    old_request = {"protected_labels": ["prod"], "four_eyes": True}  # opened before the setting
    assert settings_from_json(old_request) == ProjectSettings(("prod",), True, None)
