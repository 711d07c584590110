"""Operator pins: parsing ``PROMPTSTAGE_PIN`` / ``pins=`` and serving the pinned version."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import ConfigurationError
from promptstage.sdk.options import Options
from promptstage.sdk.pins import parse_pins

NAME = st.from_regex(r"[a-z][a-z0-9_.\-]{0,20}", fullmatch=True)


@given(st.dictionaries(st.tuples(NAME, NAME), st.integers(1, 10**6), max_size=5))
def test_the_text_form_reads_back_as_the_mapping(pins: dict[tuple[str, str], int]) -> None:
    text = ", ".join(f"{name}:{label}={n}" for (name, label), n in pins.items())
    expected = {f"{name}:{label}": n for (name, label), n in pins.items()}
    assert parse_pins(text) == expected
    assert parse_pins(expected) == expected


@pytest.mark.parametrize(
    "bad", ["booking.system=2", "booking.system:prod", "booking.system:prod=0", ":prod=2", "a:b=x"]
)
def test_a_malformed_pin_is_refused_naming_the_variable(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTSTAGE_PIN", bad)
    with pytest.raises(ConfigurationError) as info:
        Options("http://127.0.0.1:1", "clinic", None)
    assert info.value.field == "PROMPTSTAGE_PIN"
    assert "prompt:label=version" in info.value.message or ">= 1" in info.value.message


def test_pins_come_from_the_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPTSTAGE_PIN", "booking.system:prod=2")
    assert Options("http://127.0.0.1:1", "clinic", None).pinned == {"booking.system:prod": 2}
    given_pins = Options("http://127.0.0.1:1", "clinic", None, pins={"a:b": 3})
    assert given_pins.pinned == {"a:b": 3}
    monkeypatch.delenv("PROMPTSTAGE_PIN")
    assert Options("http://127.0.0.1:1", "clinic", None).pinned == {}
    with pytest.raises(ConfigurationError):
        Options("http://127.0.0.1:1", "clinic", None, pins={"a:b": True})  # type: ignore[dict-item]
