"""Names of projects, prompts, labels and variables (SPEC §2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.domain import names
from promptstage.errors import InvalidInputError

VALID = [
    (names.project_name, ["clinic", "a", "0", "a-b-c", "x" * 63, "9lives"]),
    (
        names.prompt_name,
        [
            *["booking.system", "A", "router.intent_v2", "a-b.c_d", "x" * 128, "1.2.3"],
            *["a/b", "support/triage", "a/b/c.d", "x/" + "y" * 126],
        ],
    ),
    (names.label_name, ["prod", "staging", "canary-eu", "v1.2", "x" * 63]),
    (names.variable_name, ["name", "_x", "Customer_Name2", "x" * 64]),
]
INVALID = [
    (names.project_name, ["", "Clinic", "-a", "a_b", "a.b", "x" * 64, "é", "a b", None, 3]),
    (
        names.prompt_name,
        [
            *["", ".a", "-a", "_a", "a b", "a@1", "x" * 129, "a\n", None, "/a", "a/", "a//b"],
            *["a/../b", "..", "a/..", "a/.b", "a\\b", "a/%2F", "x/" + "y" * 127],
        ],
    ),
    (names.label_name, ["", "Prod", "-x", "a/b", "x" * 64, "prod ", None]),
    (names.variable_name, ["", "1a", "a-b", "a.b", "x" * 65, "é", None]),
]


@pytest.mark.parametrize(("check", "value"), [(c, v) for c, vs in VALID for v in vs])
def test_valid_names_pass_through(check: Callable[[Any], str], value: str) -> None:
    assert check(value) == value


@pytest.mark.parametrize(("check", "value"), [(c, v) for c, vs in INVALID for v in vs])
def test_invalid_names_are_rejected_naming_the_rule(check: Callable[..., str], value: Any) -> None:
    with pytest.raises(InvalidInputError, match="is not a valid name: use") as info:
        check(value, "where")
    assert info.value.field == "where"


def test_default_fields() -> None:
    for check, field in [
        (names.project_name, "project"),
        (names.prompt_name, "name"),
        (names.label_name, "label"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            check("-")
        assert info.value.field == field


def test_latest_cannot_be_moved_but_can_be_read() -> None:
    with pytest.raises(InvalidInputError, match="'latest'") as info:
        names.label_name("latest")
    assert info.value.field == "label"
    assert names.label_name("latest", movable=False) == "latest"


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidInputError) as info:
        names.project_name("X" * 10_000)
    assert len(info.value.message) < 300


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(st.from_regex(names.PROJECT_NAME, fullmatch=True))
def test_project_names_are_valid_label_and_prompt_names(name: str) -> None:
    assert names.prompt_name(name) == name
    assert names.label_name(name, movable=False) == name


segment = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,9}", fullmatch=True)


@settings(deadline=None)
@given(st.lists(segment, min_size=1, max_size=5))
def test_folders_join_valid_segments(parts: list[str]) -> None:
    assert names.prompt_name("/".join(parts)) == "/".join(parts)


@settings(deadline=None)
@given(
    st.lists(segment, min_size=1, max_size=4),
    st.sampled_from(["", ".", "..", "-x", " "]),
    st.integers(min_value=0, max_value=4),
)
def test_a_bad_folder_segment_anywhere_is_rejected(parts: list[str], bad: str, at: int) -> None:
    parts.insert(min(at, len(parts)), bad)
    with pytest.raises(InvalidInputError, match="support/triage"):
        names.prompt_name("/".join(parts))
