r"""A release's error budget: how the family-wise alpha is split over its tests, fixed at the start.

Every test that can roll a release back spends part of alpha (0.05 one-sided): the confidence
sequence of each guardrail, and the fast path of each guardrail that has one. Bonferroni with
weights keeps the chance that *any* of them ever falsely rolls back a harmless release at or
below alpha: test ``i`` gets ``alpha · w_i / Σ w``. Weights: 1 for a confidence sequence,
:data:`FAST_WEIGHT` (0.1) for a fast path, which only has to catch severe regressions.

The split is **fixed when the release starts** and stored with it (before, ``k`` grew when the
first score arrived, so ``error_rate`` was tested at alpha until then and at alpha/2 after: a
family-wise bound up to 0.075 with two guardrails):

* declared guardrails: their tests;
* default guardrails: ``error_rate`` and its fast path, every score name seen on the baseline
  version in the :data:`HISTORY_DAYS` before the start, and a **reserve** of weight
  :data:`LATE_WEIGHT` for score names that first appear during the release. The ``j``-th such
  name (in the order the controller first saw them, recorded with the release) gets
  ``reserve · 2^-j``, so however many appear, together they never spend more than the reserve,
  and no test's level changes once it is set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from promptstage.errors import InvalidInputError

__all__ = [
    "FAST_WEIGHT",
    "HISTORY_DAYS",
    "LATE_WEIGHT",
    "ErrorBudget",
    "fast_name",
]

FAST_WEIGHT: Final = 0.1
"""Weight of a fast path in the split (a confidence sequence weighs 1)."""

LATE_WEIGHT: Final = 0.5
"""Weight of the reserve for score names that first appear during a default-guarded release."""

HISTORY_DAYS: Final = 14
"""How far back the start looks for score names on the baseline version."""


def fast_name(metric: str) -> str:
    """The budget's name for a metric's fast path."""
    return f"{metric}:fast"


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """How alpha is split over a release's tests.

    Attributes:
        alpha: The family-wise one-sided level.
        tests: ``(name, weight)`` of every test fixed at the start: a metric name for its
            confidence sequence, :func:`fast_name` for its fast path.
        reserve: Weight kept for score names first seen during the release (0: none).
        late: Those names, in the order they were first seen.
    """

    alpha: float
    tests: tuple[tuple[str, float], ...]
    reserve: float = 0.0
    late: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise InvalidInputError(f"alpha must be in (0, 0.5), got {self.alpha!r}", field="alpha")
        for name, weight in self.tests:
            if not (math.isfinite(weight) and weight > 0):
                raise InvalidInputError(f"weight of {name!r} must be > 0", field="tests")
        if not (math.isfinite(self.reserve) and self.reserve >= 0):
            raise InvalidInputError("reserve must be >= 0", field="reserve")

    @classmethod
    def for_guardrails(
        cls,
        guardrails: Iterable[tuple[str, bool]],
        *,
        alpha: float,
        reserve: float = 0.0,
    ) -> ErrorBudget:
        """The budget of ``(metric, has a fast path)`` guardrails, plus an optional reserve."""
        tests: list[tuple[str, float]] = []
        for metric, fast in guardrails:
            tests.append((metric, 1.0))
            if fast:
                tests.append((fast_name(metric), FAST_WEIGHT))
        return cls(alpha, tuple(tests), reserve)

    @property
    def total_weight(self) -> float:
        """Σ w over the fixed tests and the reserve."""
        return math.fsum(w for _, w in self.tests) + self.reserve

    @property
    def k(self) -> float:
        """The Bonferroni divisor of a confidence sequence: ``alpha / k`` is its level."""
        return self.total_weight

    def has(self, name: str) -> bool:
        """Whether ``name`` has a share (fixed, or recorded as late)."""
        return name in dict(self.tests) or name in self.late

    def with_late(self, names: Iterable[str]) -> ErrorBudget:
        """This budget with ``names`` appended to the late ones (those new to it, sorted).

        Raises:
            InvalidInputError: a name is new and the budget has no reserve.
        """
        new = sorted({n for n in names if not self.has(n)})
        if not new:
            return self
        if self.reserve <= 0:
            raise InvalidInputError(
                f"{new[0]!r} is not in the release's error budget (fixed at the start); "
                "declare guardrails to guard it",
                field="guardrails",
            )
        return ErrorBudget(self.alpha, self.tests, self.reserve, (*self.late, *new))

    def alpha_for(self, name: str) -> float:
        """The level of test ``name``.

        Raises:
            InvalidInputError: ``name`` is not in the budget.
        """
        weights = dict(self.tests)
        if name in weights:
            return self.alpha * weights[name] / self.total_weight
        if name in self.late:
            j = self.late.index(name) + 1
            return self.alpha * self.reserve / self.total_weight * 0.5**j
        raise InvalidInputError(f"{name!r} is not in the release's error budget", field=name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with the release and shown with its analysis."""
        return {
            "alpha": self.alpha,
            "tests": [{"name": n, "weight": w} for n, w in self.tests],
            "reserve": self.reserve,
            "late": list(self.late),
            "k": self.k,
            "levels": {
                name: self.alpha_for(name) for name in (*(n for n, _ in self.tests), *self.late)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorBudget:
        """Read the stored JSON form back (``k`` and ``levels`` are derived, not read)."""
        tests: Sequence[Mapping[str, Any]] = data.get("tests", ())
        return cls(
            float(data["alpha"]),
            tuple((str(t["name"]), float(t["weight"])) for t in tests),
            float(data.get("reserve", 0.0)),
            tuple(str(n) for n in data.get("late", ())),
        )
