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
