"""The audit filter's LIKE patterns match literally: a name's ``_`` or ``.`` is no wildcard."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import literal, select

from promptstage.store.sql import SqlStore
from promptstage.store.sql.audit_filter import _ESCAPE, _like_prefix

NAMES = st.text(alphabet="ab_.-%\\", min_size=1, max_size=6)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, other=NAMES, tail=st.text(alphabet="ab_@/", max_size=3))
def test_a_like_prefix_matches_exactly_the_texts_starting_with_it(
    store: SqlStore, name: str, other: str, tail: str
) -> None:
    candidate = other + tail
    pattern = _like_prefix(name) + "%"
    with store.engine.connect() as connection:
        matched = connection.execute(
            select(literal(candidate).like(pattern, escape=_ESCAPE))
        ).scalar_one()
    assert bool(matched) == candidate.startswith(name)
