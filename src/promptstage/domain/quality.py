"""Quality per version and per label: what the store aggregates from the call log for a period.

The store returns one :class:`QualityBucket` per (group key, time bucket): counts and sums the
UI turns into rates and means, and nearest-rank latency percentiles computed in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

Grouping = Literal["version", "label"]
GROUPINGS: Final = ("version", "label")
PERCENTILES: Final = (50, 95, 99)


@dataclass(frozen=True, slots=True)
class ScoreSums:
    """The scores of one name in one bucket: how many, and their sum."""

    count: int
    total: float

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class QualityBucket:
    """The calls of one version (or label) in one time bucket.

    Attributes:
        key: The version number (grouped by version) or the label asked (grouped by label).
        bucket: The index of the time bucket (``bounds[i] <= at < bounds[i + 1]``).
        calls: Calls logged.
        errors: Calls with an error.
        latency: Nearest-rank latency percentiles in ms (``{50: ..., 95: ..., 99: ...}``) over
            the calls that reported a latency; empty when none did.
        tokens_in: Sum of input tokens reported.
        tokens_out: Sum of output tokens reported.
        cost: Sum of the cost reported.
        scores: Score name -> count and sum of the scores attached to these calls.
    """

    key: int | str
    bucket: int
    calls: int
    errors: int
    latency: dict[int, float] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    scores: dict[str, ScoreSums] = field(default_factory=dict)
