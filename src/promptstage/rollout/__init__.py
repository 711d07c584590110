"""Pure rollout logic shared by the server and the SDK: bucketing, targeting, resolution.

Nothing here does I/O, reads a clock or draws random numbers; salts come from the caller.
The release controller's statistics and ramp policy, off this hot path, live in
:mod:`promptstage.rollout.analysis`.
"""

from __future__ import annotations

from promptstage.rollout.bucketing import HASH_VERSION, Arm, assign, bucket
from promptstage.rollout.resolve import ACTIVE_STATES, ActiveRelease, Resolution, resolve
from promptstage.rollout.targeting import Matcher, compile_rules, validate_rules

__all__ = [
    "ACTIVE_STATES",
    "HASH_VERSION",
    "ActiveRelease",
    "Arm",
    "Matcher",
    "Resolution",
    "assign",
    "bucket",
    "compile_rules",
    "resolve",
    "validate_rules",
]
