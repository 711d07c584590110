"""The password policy (service/passwords.py), as a property over any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.service import passwords


def _acceptable(name: str, password: str) -> bool:
    return (
        passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH
        and len(set(password)) > 1
        and password.casefold() != name.casefold()
    )


@given(
    name=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
    password=st.one_of(
        st.text(max_size=40),
        st.builds(lambda c, n: c * n, st.characters(), st.integers(1, 30)),
        st.text(min_size=1020, max_size=1030),
    ),
)
def test_the_policy_accepts_exactly_the_passwords_it_documents(name: str, password: str) -> None:
    if _acceptable(name, password):
        assert passwords.check_password(name, password) == password
    else:
        with pytest.raises(InvalidInputError) as raised:
            passwords.check_password(name, password)
        assert raised.value.field == "password"


@given(st.from_regex(r"[a-z][a-z0-9]{11,20}", fullmatch=True))
def test_the_name_itself_is_refused_whatever_its_case(name: str) -> None:
    for variant in (name, name.upper()):
        with pytest.raises(InvalidInputError):
            passwords.check_password(name, variant)


def test_generated_passwords_meet_the_policy() -> None:
    for _ in range(20):
        generated = passwords.generate()
        assert passwords.check_password("erin", generated) == generated


def test_verify_without_a_stored_hash_is_false_even_for_the_decoy() -> None:
    assert passwords.verify(None, "anything at all") is False
    assert passwords.verify("not a hash", "anything at all") is False
