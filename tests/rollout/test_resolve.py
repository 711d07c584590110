"""ActiveRelease construction and resolve() beyond the shared spec cases."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptstage.errors import InvalidInputError
from promptstage.rollout import ActiveRelease, Resolution, assign, bucket, resolve


def release_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "rel_1",
        "prompt": "booking.system",
        "label": "production",
        "baseline_version": 3,
        "candidate_version": 4,
        "weight_bps": 2500,
        "salt": "salt-1",
        "hash_version": 1,
        "targeting": None,
        "state": "running",
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": ""}, "release.id"),
        ({"id": 7}, "release.id"),
        ({"baseline_version": 0}, "release.baseline_version"),
        ({"candidate_version": "4"}, "release.candidate_version"),
        ({"candidate_version": True}, "release.candidate_version"),
        ({"weight_bps": -1}, "release.weight_bps"),
        ({"weight_bps": 10001}, "release.weight_bps"),
        ({"weight_bps": 25.0}, "release.weight_bps"),
        ({"salt": ""}, "release.salt"),
        ({"hash_version": 2}, "release.hash_version"),
        ({"hash_version": True}, "release.hash_version"),
        ({"hash_version": None}, "release.hash_version"),
        ({"state": "completed"}, "release.state"),
        ({"state": "rolled_back"}, "release.state"),
        ({"targeting": {"combinator": "and", "rules": [{"field": "a", "operator": "~"}]}},
         "release.targeting.rules[0].operator"),
    ],
)  # fmt: skip
def test_from_dict_rejects(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ActiveRelease.from_dict(release_dict(**overrides))
    assert info.value.field == field
    assert info.value.message.startswith(field)


def test_from_dict_rejects_missing_keys_and_non_objects() -> None:
    data = release_dict()
    del data["salt"]
    with pytest.raises(InvalidInputError, match=r"release\.salt"):
        ActiveRelease.from_dict(data)
    with pytest.raises(InvalidInputError):
        ActiveRelease.from_dict([])  # type: ignore[arg-type]


def test_from_dict_defaults() -> None:
    data = release_dict()
    del data["state"], data["targeting"], data["prompt"], data["label"]
    release = ActiveRelease.from_dict(data)
    assert release.state == "running"
    assert release.matcher is None


def test_empty_targeting_compiles_to_no_matcher() -> None:
    release = ActiveRelease.from_dict(
        release_dict(targeting={"combinator": "and", "not": True, "rules": []})
    )
    assert release.matcher is None


def test_releases_compare_by_their_fields() -> None:
    assert ActiveRelease.from_dict(release_dict()) == ActiveRelease.from_dict(release_dict())


def test_no_release_answers_are_shared() -> None:
    first, second = resolve(12, None, "u", None), resolve(12, None, None, {"a": 1})
    assert first is second
    assert first == Resolution(12, "baseline", None, False)


def test_release_answers_are_prebuilt() -> None:
    release = ActiveRelease.from_dict(release_dict(weight_bps=10000))
    assert resolve(3, release, "u1") is resolve(3, release, "u2")


def test_context_none_is_an_empty_context() -> None:
    targeting = {
        "combinator": "and",
        "rules": [{"field": "tenant", "operator": "null", "value": None}],
    }
    release = ActiveRelease.from_dict(release_dict(weight_bps=10000, targeting=targeting))
    assert resolve(3, release, "u", None).arm == "canary"


@given(unit=st.text(min_size=1), weight=st.integers(0, 10000), salt=st.text(min_size=1))
def test_resolve_agrees_with_bucket_and_assign(unit: str, weight: int, salt: str) -> None:
    release = ActiveRelease.from_dict(release_dict(weight_bps=weight, salt=salt))
    arm = assign(bucket(salt, unit), weight)
    result = resolve(3, release, unit, {})
    assert result.arm == arm
    assert result.version == (4 if arm == "canary" else 3)
    assert result.release_id == "rel_1" and result.unitless is False


@given(unit=st.integers(0, 10**12))
def test_non_string_units_hash_like_their_text(unit: int) -> None:
    release = ActiveRelease.from_dict(release_dict())
    assert resolve(3, release, unit, None) == resolve(3, release, str(unit), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [1, 499, 2500, 4999, 5000, 5001, 9999, 10000])
def test_units_at_the_arms_edges_get_the_arm_of_their_bucket(weight: int) -> None:
    """resolve and the chooser compare the raw hash with precomputed bounds; the units whose
    bucket sits on either side of an edge (canary end, control start and end) prove that the
    bounds put each of them in the arm that ``assign(bucket(...))`` gives."""
    release = ActiveRelease.from_dict(release_dict(weight_bps=weight, salt="edge-salt"))
    choose = release.chooser("canary", "control", "baseline", "unitless")
    edges = {weight - 1, weight, 4999, 5000, 5000 + weight - 1, 5000 + weight}
    checked = 0
    for i in range(200_000):
        unit = f"user-{i}"
        b = bucket("edge-salt", unit)
        if b in edges:
            arm = assign(b, weight)
            assert resolve(3, release, unit, None).arm == arm, (unit, b)
            assert choose(unit, None) == arm, (unit, b)
            checked += 1
    assert checked >= 40  # about 20 units per bucket: every edge was reached
