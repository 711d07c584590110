"""Sample-ratio mismatch check on the analysed arms (SPEC §7).

The canary ``[0, w)`` and the analysis control ``[5000, 5000 + w)`` are equal-size bucket ranges
(:mod:`promptstage.rollout.bucketing`), so with healthy assignment and logging their unit counts
differ only by chance: expected share 1/2 each. A χ² goodness-of-fit test with one degree of
freedom compares the observed counts with that expectation::

    χ² = (c - E_c)² / E_c + (t - E_t)² / E_t,   E_c = s·(c + t), E_t = (1 - s)·(c + t)
    p  = P(χ²₁ > x) = erfc(sqrt(x / 2))          (exact for one degree of freedom)

``p < 0.001`` flags a mismatch (GrowthBook's health-check threshold), which pauses the release.
Below 8 units in either arm (GrowthBook's minimum per variation) the check is not made.

We test canary against control rather than canary against its share of all units: the baseline
remainder also holds units whose share is not known in advance (unitless calls, and users
outside the targeting rules), so it is not a clean expectation, while the two equal-size ranges
have a known 1:1 ratio and an imbalance between them reveals the assignment or logging faults
that would bias Δ̂.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from promptstage.errors import InvalidInputError

__all__ = [
    "SRM_MIN_UNITS",
    "SRM_THRESHOLD",
    "SampleRatio",
    "chi2_sf_1dof",
    "sample_ratio",
]

SRM_THRESHOLD: Final = 0.001
"""p-value below which the arms' unit counts are declared mismatched."""

SRM_MIN_UNITS: Final = 8
"""Fewest units per arm before the check is made."""


def chi2_sf_1dof(x: float) -> float:
    """Survival function of the χ² distribution with one degree of freedom.

    Args:
        x: The statistic, ``>= 0``.

    Returns:
        ``P(X > x) = erfc(sqrt(x / 2))``; 1 for ``x <= 0``.
    """
    if math.isnan(x):
        raise InvalidInputError("x must be a number, got NaN", field="x")
    if x <= 0.0:
        return 1.0
    return math.erfc(math.sqrt(x / 2.0))


@dataclass(frozen=True, slots=True)
class SampleRatio:
    """Result of the sample-ratio check.

    Attributes:
        canary: Units seen in the canary arm.
        control: Units seen in the control arm.
        expected_share: Expected canary share of ``canary + control``.
        chi2: The χ² statistic (0 when not checked).
        p_value: Its p-value (1 when not checked).
        mismatch: True when ``p_value < threshold`` (and the check was made).
        checked: False when an arm had fewer than the minimum units.
        reason: A sentence for the release's decision log.
    """

    canary: int
    control: int
    expected_share: float
    chi2: float
    p_value: float
    mismatch: bool
    checked: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a look."""
        return {
            "canary": self.canary,
            "control": self.control,
            "expected_share": self.expected_share,
            "chi2": self.chi2,
            "p_value": self.p_value,
            "mismatch": self.mismatch,
            "checked": self.checked,
            "reason": self.reason,
        }


def sample_ratio(
    canary: int,
    control: int,
    *,
    expected_share: float = 0.5,
    threshold: float = SRM_THRESHOLD,
    min_units: int = SRM_MIN_UNITS,
) -> SampleRatio:
    """Test the observed unit counts of the two analysed arms against their expected ratio.

    Args:
        canary: Distinct units that reached the canary arm since the release started.
        control: Distinct units that reached the analysis control arm.
        expected_share: Expected canary share of ``canary + control`` (1/2 by construction).
        threshold: p-value below which the counts are declared mismatched.
        min_units: Fewest units per arm before the check is made.

    Returns:
        The statistic, its p-value and whether the ratio is mismatched.
    """
    for name, value in (("canary", canary), ("control", control), ("min_units", min_units)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be an integer >= 0, got {value!r}", field=name)
    if not 0.0 < expected_share < 1.0:
        raise InvalidInputError(
            f"expected_share must be in (0, 1), got {expected_share!r}", field="expected_share"
        )
    if not 0.0 < threshold < 1.0:
        raise InvalidInputError(
            f"threshold must be in (0, 1), got {threshold!r}", field="threshold"
        )
    if canary < min_units or control < min_units:
        return SampleRatio(
            canary,
            control,
            expected_share,
            0.0,
            1.0,
            False,
            False,
            f"sample ratio not checked: canary {canary} and control {control} units, "
            f"need {min_units} per arm",
        )
    total = canary + control
    expected_canary = expected_share * total
    expected_control = total - expected_canary
    chi2 = (canary - expected_canary) ** 2 / expected_canary + (
        control - expected_control
    ) ** 2 / expected_control
    p_value = chi2_sf_1dof(chi2)
    mismatch = p_value < threshold
    verdict = f"< {threshold:g}: sample-ratio mismatch" if mismatch else f">= {threshold:g}: ok"
    reason = (
        f"canary {canary} vs control {control} units (expected share {expected_share:.2f}), "
        f"chi2 {chi2:.2f}, p {p_value:.3g} {verdict}"
    )
    return SampleRatio(canary, control, expected_share, chi2, p_value, mismatch, True, reason)
