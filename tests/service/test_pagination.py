"""Opaque cursors: what ``encode_cursor`` writes, ``decode_cursor`` reads back; anything else
is refused naming ``cursor`` (never passed on to the store, where it could fail as a 500)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.service.pagination import (
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    encode_cursor,
    page,
)


def raw_cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@settings(deadline=None)  # timing is not under test; a loaded machine is slow
@given(st.integers(0, 2**63 - 1))
def test_integer_positions_round_trip(position: int) -> None:
    assert decode_cursor(encode_cursor(position), int) == position


@settings(deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=200))
def test_text_positions_round_trip(position: str) -> None:
    cursor = encode_cursor(position)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(cursor, str) == position


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor(None, int) is None
    assert decode_cursor("", str) is None


@pytest.mark.parametrize(
    ("cursor", "kind"),
    [
        ("not base64!", int),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), int),
        (raw_cursor([1]), int),
        (raw_cursor({"q": 1}), int),
        (raw_cursor({"p": "1"}), int),
        (raw_cursor({"p": 1}), str),
        (raw_cursor({"p": True}), int),
        (raw_cursor({"p": 1.5}), int),
        (raw_cursor({"p": None}), int),
        (raw_cursor({"p": -1}), int),
        (raw_cursor({"p": 2**63}), int),
        (raw_cursor({"p": 10**30}), int),
    ],
)
def test_foreign_cursors_are_refused(cursor: str, kind: type) -> None:
    with pytest.raises(InvalidInputError) as info:
        decode_cursor(cursor, kind)
    assert info.value.field == "cursor"


def test_a_cursor_past_the_columns_range_is_refused() -> None:
    assert decode_cursor(encode_cursor(2**31 - 1), int, maximum=2**31 - 1) == 2**31 - 1
    with pytest.raises(InvalidInputError):
        decode_cursor(encode_cursor(2**31), int, maximum=2**31 - 1)


def test_page_cuts_at_limit_and_points_after_the_last_item() -> None:
    items, cursor = page([5, 4, 3], 2, lambda n: n)
    assert items == [5, 4]
    assert decode_cursor(cursor, int) == 4
    assert page([5, 4], 2, lambda n: n) == ([5, 4], None)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_limit_out_of_range(limit: int) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_limit(limit)
    assert info.value.field == "limit"
    assert check_limit(MAX_LIMIT) == MAX_LIMIT


@pytest.mark.parametrize("position", ["a\x00", "\ud800", "x\udfff"])
def test_text_no_store_can_hold_is_refused(position: str) -> None:
    with pytest.raises(InvalidInputError):
        decode_cursor(encode_cursor(position), str)


def test_time_cursors_round_trip_and_refuse_forgeries() -> None:
    from datetime import UTC, datetime

    from promptstage.service.pagination import decode_time_cursor, encode_cursor

    at = datetime(2026, 11, 26, 17, 0, 0, 123456, tzinfo=UTC)
    assert decode_time_cursor(None) is None
    assert decode_time_cursor(encode_cursor(["2026-11-26T17:00:00.123456Z", "cr_1"])) == (
        at,
        "cr_1",
    )
    for forged in (
        ["2026-11-26T17:00:00", "cr_1"],
        ["2026-11-26T17:00:00Z", 7],
        ["not a time", "x"],
        ["2026-11-26T17:00:00Z"],
    ):
        with pytest.raises(InvalidInputError) as caught:
            decode_time_cursor(encode_cursor(forged))
        assert caught.value.field == "cursor"
