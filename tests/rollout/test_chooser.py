"""``ActiveRelease.chooser`` (the SDK's precompiled release path) decides as ``resolve``."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from promptstage.rollout.resolve import ActiveRelease, resolve

TARGETING = {
    "combinator": "and",
    "rules": [
        {"field": "channel", "operator": "in", "value": ["whatsapp", "sms"]},
        {"field": "vertical", "operator": "=", "value": "dental"},
    ],
}
contexts = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "channel": st.sampled_from(["whatsapp", "sms", "web", 5, None]),
            "vertical": st.sampled_from(["dental", "vet", True]),
        },
    ),
)


@given(
    weight=st.integers(0, 10_000),
    targeted=st.booleans(),
    salt=st.text(min_size=1, max_size=8),
    unit=st.one_of(st.none(), st.just(""), st.text(max_size=12), st.integers()),
    context=contexts,
)
def test_chooser_answers_as_resolve(
    weight: int, targeted: bool, salt: str, unit: Any, context: Any
) -> None:
    release = ActiveRelease.from_dict(
        {
            "id": "rel_1",
            "baseline_version": 3,
            "candidate_version": 4,
            "weight_bps": weight,
            "salt": salt,
            "hash_version": 1,
            "targeting": TARGETING if targeted else None,
        }
    )
    choose = release.chooser("canary", "control", "baseline", "unitless")
    res = resolve(3, release, unit, context)
    expected = "unitless" if res.unitless else res.arm
    assert choose(unit, context) == expected
