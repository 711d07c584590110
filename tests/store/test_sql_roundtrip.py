"""Values come back exactly as written: timestamps and the JSON the hashes cover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_factories import at, seed

from promptstage.domain.audit import chain_hash
from promptstage.store.sql import SqlStore

# The store fixture is reused across examples on purpose: each example appends new rows.
_reuse_store = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

offsets = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14))
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def seeded(store: SqlStore) -> SqlStore:
    """A store with the project ``clinic``, created once per test (not per example)."""
    seed(store, versions=0)
    return store


@_reuse_store
@given(moment=moments)
def test_timestamps_round_trip_as_aware_utc(seeded: SqlStore, moment: datetime) -> None:
    with seeded.unit_of_work(write=True) as uow:
        written = uow.append_event("clinic", "tick", {}, moment)
    with seeded.unit_of_work() as uow:
        (read,) = uow.events_since("clinic", written.seq - 1, limit=1)
    assert read.at == moment
    assert read.at.tzinfo is UTC
    assert read == written


@_reuse_store
@given(before=json_values, after=json_values)
def test_audit_json_round_trips_to_the_same_hash(seeded: SqlStore, before: Any, after: Any) -> None:
    with seeded.unit_of_work(write=True) as uow:
        written = uow.append_audit(
            "clinic", actor="a", action="x", target="t", before=before, after=after,
            reason="r", at=at(),
        )  # fmt: skip
    with seeded.unit_of_work() as uow:
        (read,) = uow.list_audit("clinic", limit=1, before=None)
    assert chain_hash(read.prev_hash, read.chained()) == written.hash
