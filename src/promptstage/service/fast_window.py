"""The fast path's window: where it starts, carried from one look to the next.

See :mod:`promptstage.rollout.analysis.fastpath` for what the fast path tests in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from promptstage.rollout.analysis.statistics import Look

__all__ = ["FastWindow"]


@dataclass(frozen=True, slots=True)
class FastWindow:
    """Where the fast path's window starts, and how many windows each metric has tested.

    Stored with every look (``fast_window_state``) so the next look continues from it: the
    window is the calls made in ``(since, until]``, ``until`` being the look's time. It closes (the next one
    starts at ``until``) when a fast path was tested in it; otherwise it grows.
    """

    since: datetime
    until: datetime
    tests: dict[str, int] = field(default_factory=dict)

    @classmethod
    def after(
        cls, previous: Mapping[str, Any] | None, start: datetime, now: datetime
    ) -> FastWindow:
        """The window of a look at ``now`` after a look that stored ``previous`` (or none)."""
        if not previous:  # the first window also holds a call made at the very start
            return cls(start - timedelta(microseconds=1), now)
        since = datetime.fromisoformat(str(previous["next_since"]))
        tests = {str(k): int(v) for k, v in dict(previous.get("tests", {})).items()}
        return cls(min(since, now), now, tests)

    def next_state(self, look: Look) -> dict[str, Any]:
        """The JSON the next look continues from."""
        tested = [r.guardrail.metric for r in look.results if r.fast is not None and r.fast.tested]
        tests = dict(self.tests)
        for metric in tested:
            tests[metric] = tests.get(metric, 0) + 1
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "next_since": (self.until if tested else self.since).isoformat(),
            "tests": tests,
        }
