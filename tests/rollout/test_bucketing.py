"""Properties of the bucketing scheme (SPEC §3)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.rollout.bucketing import (
    ARM_BASELINE,
    ARM_CANARY,
    ARM_CONTROL,
    BUCKETS,
    HASH_VERSION,
    assign,
    bucket,
    hash_bound,
)

KEYS = [f"user-{i}" for i in range(100_000)]
weights = st.integers(min_value=0, max_value=BUCKETS)
half_weights = st.integers(min_value=0, max_value=BUCKETS // 2)
salts = st.text(min_size=1, max_size=24)
# Statistical properties use a handful of salts, derandomized so the suite cannot flake.
statistical = settings(max_examples=5, derandomize=True, deadline=None)


def buckets_of(salt: str) -> list[int]:
    return [bucket(salt, key) for key in KEYS]


def test_hash_version_is_one() -> None:
    assert HASH_VERSION == 1


@given(salt=st.text(), unit=st.text())
def test_bucket_in_range(salt: str, unit: str) -> None:
    assert 0 <= bucket(salt, unit) < BUCKETS


@given(salt=st.text(), unit=st.text())
def test_bucket_is_deterministic(salt: str, unit: str) -> None:
    assert bucket(salt, unit) == bucket(salt, unit)


hashes = st.integers(0, 2**32 - 1)


@given(h=hashes, edge=weights)
def test_a_hash_is_below_the_bound_of_an_edge_exactly_when_its_bucket_is(h: int, edge: int) -> None:
    assert (h < hash_bound(edge)) == ((h * BUCKETS) >> 32 < edge)


def test_the_bound_of_every_edge_is_the_first_hash_of_its_bucket() -> None:
    for edge in range(BUCKETS + 1):
        bound = hash_bound(edge)
        assert 0 <= bound <= 2**32
        if bound > 0:  # the hash just below the bound is in an earlier bucket
            assert (bound - 1) * BUCKETS >> 32 < edge, edge
        if bound < 2**32:
            assert bound * BUCKETS >> 32 >= edge, edge


@given(b=st.integers(0, BUCKETS - 1), w=weights)
def test_assign_layout(b: int, w: int) -> None:
    arm = assign(b, w)
    if b < w:
        assert arm == ARM_CANARY
    elif w <= 5000 and 5000 <= b < 5000 + w:
        assert arm == ARM_CONTROL
    else:
        assert arm == ARM_BASELINE


@given(b=st.integers(0, BUCKETS - 1), w=weights, extra=weights)
def test_canary_is_monotone_in_weight(b: int, w: int, extra: int) -> None:
    higher = min(BUCKETS, w + extra)
    if assign(b, w) == ARM_CANARY:
        assert assign(b, higher) == ARM_CANARY


@given(salt=salts, unit=st.text(), w=weights, extra=weights)
def test_unit_never_leaves_canary_when_weight_rises(
    salt: str, unit: str, w: int, extra: int
) -> None:
    b = bucket(salt, unit)
    if assign(b, w) == ARM_CANARY:
        assert assign(b, min(BUCKETS, w + extra)) == ARM_CANARY


@given(w=half_weights)
def test_control_range_equals_canary_range_and_is_disjoint(w: int) -> None:
    arms = [assign(b, w) for b in range(BUCKETS)]
    assert arms.count(ARM_CANARY) == arms.count(ARM_CONTROL) == w


@given(w=st.integers(BUCKETS // 2 + 1, BUCKETS))
def test_no_control_arm_above_half(w: int) -> None:
    arms = [assign(b, w) for b in range(BUCKETS)]
    assert ARM_CONTROL not in arms
    assert arms.count(ARM_CANARY) == w


def test_extremes() -> None:
    assert {assign(b, 0) for b in range(BUCKETS)} == {ARM_BASELINE}
    assert {assign(b, BUCKETS) for b in range(BUCKETS)} == {ARM_CANARY}


@statistical
@given(salt=salts)
def test_five_percent_of_100k_keys_at_500_bps(salt: str) -> None:
    assigned = [assign(b, 500) for b in buckets_of(salt)]
    canary = assigned.count(ARM_CANARY) / len(KEYS)
    control = assigned.count(ARM_CONTROL) / len(KEYS)
    assert abs(canary - 0.05) <= 0.003
    assert abs(control - 0.05) <= 0.003
    assert abs(canary - control) <= 0.003


@pytest.mark.parametrize("w", [100, 1000, 2500, 5000, 9000])
def test_share_matches_weight(w: int) -> None:
    p = w / BUCKETS
    share = sum(b < w for b in buckets_of("share-salt")) / len(KEYS)
    assert abs(share - p) <= 5 * math.sqrt(p * (1 - p) / len(KEYS))


@pytest.mark.parametrize("w", [500, 2500, 5000])
def test_control_and_canary_units_are_disjoint(w: int) -> None:
    canary = control = 0
    for b in buckets_of("disjoint-salt"):
        arm = assign(b, w)
        canary += arm == ARM_CANARY
        control += arm == ARM_CONTROL
    # Each unit has exactly one arm, so the sets cannot overlap; sizes agree within noise.
    p = w / BUCKETS
    assert abs(canary - control) / len(KEYS) <= 5 * math.sqrt(2 * p * (1 - p) / len(KEYS))


@statistical
@given(
    salts=st.lists(salts, min_size=2, max_size=2, unique=True), w=st.sampled_from([500, 2500, 5000])
)
def test_salts_are_independent(salts: list[str], w: int) -> None:
    p = w / BUCKETS
    first, second = (buckets_of(salt) for salt in salts)
    both = sum(a < w and b < w for a, b in zip(first, second, strict=True)) / len(KEYS)
    # Independent salts: a unit is in both canaries with probability p^2.
    assert abs(both - p * p) <= 5 * math.sqrt(p * p * (1 - p * p) / len(KEYS))
