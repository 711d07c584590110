r"""The fast path: a severe regression against the control over the latest window (SPEC §7).

The confidence sequence (:mod:`.sequential`) reads everything since the release started, so a
spike that starts mid-release is diluted by the calls before it (500 calls at 35 % after 10 000
at 2 % read as 3.6 %). The fast path therefore looks at a **window**: the calls made since the
last look at which the fast path was tested (the window grows over looks that had too few
calls), on the canary *and* on the baseline units it is compared with, over the same time.

A guardrail with a ``fast_threshold`` fires when, in the window, the canary has at least
``fast_min_calls`` calls with a value and

1. its per-call mean is beyond ``max(fast_threshold, control + fast_margin)`` (``increase``;
   ``min(fast_threshold, control - fast_margin)`` for ``decrease``): the regression is severe
   *and* relative to the control, so an upstream outage that hits both arms does not fire it;
2. and a one-sided test of "the canary is no worse than the control" rejects at the window's
   error level:

   * 0/1 values (``error_rate``, a 0/1 score): the **exact conditional binomial test**. Given
     the window's ``E`` events on both sides, under equal per-call rates the canary's events are
     ``Bin(E, π)`` with ``π = n_canary / (n_canary + n_control)`` calls, so
     ``p = P(Bin(E, π) >= x_canary)`` exactly, whatever the common rate.
   * other values (latency, cost): a one-sided Welch z-test on the per-call values (normal
     approximation; the fast path is for severe regressions, where it is far from the edge).

**Error budget.** Each fast path is one test of the release's error budget
(:mod:`.budget`): it gets ``alpha_f`` and spends it over its successive windows, the ``j``-th
test (``j = 1, 2, ...``) at ``alpha_f / (j (j + 1))``. These sum to ``alpha_f`` over any number
of windows, and the windows are disjoint, so by the union bound the fast path falsely fires
with probability at most ``alpha_f`` over the whole release, however long it runs. At the
100th window the level is ``alpha_f / 10 100``; a spike from 2 % to 35 % over 50 canary calls
has ``p`` near 1e-12, far below it.

Calls are tested as independent: errors clustered within a unit make the test somewhat
anti-conservative, which the tiny levels absorb (see the simulations in
``tests/rollout/analysis/test_sim_fastpath.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from promptstage.errors import InvalidInputError

__all__ = [
    "DEFAULT_FAST_MARGIN",
    "CallSums",
    "FastTest",
    "Window",
    "binomial_sf",
    "fast_test",
    "window_alpha",
]

DEFAULT_FAST_MARGIN: Final = 0.05
"""Margin over the control's rate for the default ``error_rate`` fast path (5 points)."""

_BINARY_TOL: Final = 1e-9


@dataclass(frozen=True, slots=True)
class CallSums:
    """Per-call sums of one metric on one side over a window.

    Attributes:
        calls: Calls (or scores) with a value.
        total: Sum of the values.
        total_sq: Sum of the squared values.
    """

    calls: int
    total: float
    total_sq: float

    def __post_init__(self) -> None:
        if isinstance(self.calls, bool) or not isinstance(self.calls, int) or self.calls < 0:
            raise InvalidInputError(
                f"calls must be an integer >= 0, got {self.calls!r}", field="calls"
            )
        for name in ("total", "total_sq"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidInputError(f"{name} must be finite", field=name)

    @property
    def mean(self) -> float:
        """Mean per-call value (0 without calls)."""
        return self.total / self.calls if self.calls else 0.0

    @property
    def binary(self) -> bool:
        """True when every value is 0 or 1 (Σv² = Σv with values in [0, 1], Σv an integer)."""
        return (
            abs(self.total_sq - self.total) <= _BINARY_TOL * max(1.0, self.total)
            and abs(self.total - round(self.total)) <= _BINARY_TOL * max(1.0, self.total)
            and -_BINARY_TOL <= self.total <= self.calls + _BINARY_TOL
        )

    @property
    def variance(self) -> float:
        """Unbiased per-call variance (0 below 2 calls)."""
        if self.calls < 2:
            return 0.0
        centred = self.total_sq - self.total * self.total / self.calls
        return max(centred, 0.0) / (self.calls - 1)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form shown with a look."""
        return {"calls": self.calls, "mean": self.mean}


@dataclass(frozen=True, slots=True)
class Window:
    """One metric over the fast path's window.

    Attributes:
        canary: The canary's calls in the window.
        control: The compared baseline calls in the same window.
        tests: How many earlier windows the fast path of this metric already tested (``j - 1``).
    """

    canary: CallSums
    control: CallSums
    tests: int = 0


@dataclass(frozen=True, slots=True)
class FastTest:
    """What the fast path found in one window.

    Attributes:
        tested: False while the canary has fewer than ``min_calls`` calls in the window.
        fired: True when the level is beyond the bar and the test rejects.
        bar: ``max(threshold, control + margin)`` (``min(...)`` for a decrease).
        p_value: The one-sided p-value (1 when not tested).
        alpha: The level of this window's test.
        method: ``"exact-binomial"`` or ``"welch-z"``.
        reason: A sentence for the look.
    """

    tested: bool
    fired: bool
    bar: float
    p_value: float
    alpha: float
    method: str
    reason: str


def window_alpha(alpha: float, index: int) -> float:
    """The level of the ``index``-th window test (1-based): ``alpha / (index (index + 1))``."""
    if index < 1:
        raise InvalidInputError(f"index must be >= 1, got {index!r}", field="index")
    return alpha / (index * (index + 1.0))


def _log_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def binomial_sf(x: int, n: int, p: float) -> float:
    """``P(Bin(n, p) >= x)``, exactly.

    Sums the upper tail from ``x`` with the ratio of successive terms, scaled by the first term
    (computed in log space), and stops once the terms no longer change the sum.

    Args:
        x: Observed successes.
        n: Trials.
        p: Success probability in [0, 1].

    Returns:
        The upper tail probability, in [0, 1].
    """
    if n < 0 or not 0.0 <= p <= 1.0:
        raise InvalidInputError(f"need n >= 0 and 0 <= p <= 1, got n={n!r}, p={p!r}", field="p")
    if x <= 0:
        return 1.0
    if x > n or p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    if x <= n * p:  # at or below the mean: one minus the lower tail, summed downwards
        return max(0.0, 1.0 - _tail(x - 1, n, p, up=False))
    return min(1.0, _tail(x, n, p, up=True))


def _tail(x: int, n: int, p: float, *, up: bool) -> float:
    """``P(X >= x)`` (``up``) or ``P(X <= x)`` from a point beyond the mean, by term ratios."""
    odds = p / (1.0 - p)
    term = total = 1.0
    ks = range(x, n) if up else range(x, 0, -1)
    for k in ks:
        term *= (n - k) / (k + 1.0) * odds if up else k / (n - k + 1.0) / odds
        total += term
        if term < total * 1e-17:
            break
    return math.exp(_log_pmf(x, n, p)) * total


def fast_test(
    window: Window,
    *,
    harmful: Literal["increase", "decrease"],
    threshold: float,
    margin: float,
    min_calls: int,
    alpha: float,
    metric: str = "metric",
) -> FastTest:
    """Test one window: level beyond ``max(threshold, control + margin)`` and a one-sided test.

    Args:
        window: The metric's calls on both sides in the window, and the earlier tests.
        harmful: The harmful direction.
        threshold: The guardrail's ``fast_threshold``.
        margin: The guardrail's ``fast_margin`` (>= 0, metric units).
        min_calls: Canary calls needed in the window before testing.
        alpha: The fast path's whole budget ``alpha_f``; this window uses
            :func:`window_alpha` of it.
        metric: The metric's name, for the reason.

    Returns:
        The window's verdict.
    """
    canary, control = window.canary, window.control
    level = window_alpha(alpha, window.tests + 1)
    up = harmful == "increase"
    bar = max(threshold, control.mean + margin) if up else min(threshold, control.mean - margin)
    if canary.calls < min_calls:
        return FastTest(
            False,
            False,
            bar,
            1.0,
            level,
            "",
            f"{metric} fast path: {canary.calls} canary calls in the window, needs {min_calls}",
        )
    beyond = canary.mean > bar if up else canary.mean < bar
    if not beyond:
        return FastTest(
            True,
            False,
            bar,
            1.0,
            level,
            "",
            f"canary {metric} {canary.mean:.3f} over {canary.calls} calls vs control "
            f"{control.mean:.3f} over {control.calls} calls in the window: not beyond the "
            f"fast-path bar {bar:.3f}",
        )
    if canary.binary and control.binary:
        method = "exact-binomial"
        x_t = round(canary.total) if up else canary.calls - round(canary.total)
        x_c = round(control.total) if up else control.calls - round(control.total)
        share = canary.calls / (canary.calls + control.calls) if control.calls else 1.0
        p_value = binomial_sf(x_t, x_t + x_c, share)
    else:
        method = "welch-z"
        se = math.sqrt(
            canary.variance / canary.calls
            + (control.variance / control.calls if control.calls else math.inf)
        )
        diff = canary.mean - control.mean if up else control.mean - canary.mean
        if se == 0.0:
            p_value = 0.0 if diff > 0 else 1.0
        else:
            p_value = 0.5 * math.erfc(diff / se / math.sqrt(2.0)) if math.isfinite(se) else 1.0
    fired = p_value < level
    op = ">" if up else "<"
    words = (
        f"canary {metric} {canary.mean:.3f} over {canary.calls} calls vs control "
        f"{control.mean:.3f} over {control.calls} calls in the window"
    )
    if fired:
        reason = (
            f"{words}: {canary.mean:.3f} {op} fast-path bar {bar:.3f} and {method} "
            f"p {p_value:.3g} < {level:.3g}"
        )
    else:
        reason = f"{words}: fast path not fired (bar {bar:.3f}, p {p_value:.3g}, level {level:.3g})"
    return FastTest(True, fired, bar, p_value, level, method, reason)
