"""Resolve a label to a version for one call: the hot path of SPEC §3.

The server's ``resolve`` endpoint and the SDK's ``get`` both call :func:`resolve`, with the
label's version, the label's active release (if any) as an :class:`ActiveRelease`, the unit key
and the context attributes. The shared cases in ``tests/spec/resolution_cases.json`` pin the
answers.

Decisions, in order:

1. No active release: the label's version, arm ``baseline``, no release id.
2. The release has targeting rules and the context does not match them: the release's baseline
   version, arm ``baseline`` (``unitless`` stays false: the call is outside the release).
3. No unit key (``None`` or ``""``): the baseline version, arm ``baseline``, ``unitless`` true;
   never the candidate, so a conversation cannot change version mid-way.
4. Otherwise the unit's bucket picks the arm (see :mod:`promptstage.rollout.bucketing`):
   ``canary`` -> candidate version, ``control`` -> baseline version, ``baseline`` -> baseline
   version.

Once a release is active, its ``baseline_version`` is authoritative and ``label_version`` is not
consulted. A **paused** release keeps splitting traffic exactly as at the pause (same weight, same
salt): pausing stops the controller from advancing it, it does not move anyone back. Only
``completed``, ``rolled_back`` and ``aborted`` releases stop being active, and those are not
passed here at all.

Everything a call can return for a release is built once in :meth:`ActiveRelease.from_dict`, and
the no-release answers are shared per version, so the hot path allocates only the hash key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeGuard, TypeVar

import mmh3

from promptstage.errors import InvalidInputError
from promptstage.rollout.bucketing import (
    ARM_BASELINE,
    ARM_CANARY,
    ARM_CONTROL,
    BUCKETS,
    CONTROL_START,
    HASH_VERSION,
    Arm,
    hash_bound,
)
from promptstage.rollout.targeting import Matcher, compile_rules, validate_rules

__all__ = ["ACTIVE_STATES", "ActiveRelease", "Resolution", "resolve"]

T = TypeVar("T")

ACTIVE_STATES: Final = frozenset({"running", "paused"})
"""Release states in which a release takes part in resolution."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_hash = mmh3.hash


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer for one call.

    Attributes:
        version: The version number to serve.
        arm: ``"baseline"``, ``"canary"`` or ``"control"``.
        release_id: The active release's id, or ``None`` when the label has none.
        unitless: True when a release was active but the call had no unit key.
    """

    version: int
    arm: Arm
    release_id: str | None
    unitless: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the API and the spec cases."""
        return {
            "version": self.version,
            "arm": self.arm,
            "release_id": self.release_id,
            "unitless": self.unitless,
        }


@dataclass(frozen=True, slots=True)
class ActiveRelease:
    """A running or paused release, ready for :func:`resolve`.

    Build it with :meth:`from_dict` (which validates and compiles the targeting rules) once per
    snapshot change, not per call.

    Attributes:
        id: The release id.
        candidate_version: The version under test.
        baseline_version: The label's version when the release started.
        weight_bps: The candidate's share in basis points (0..10000).
        salt: The release's bucketing salt.
        hash_version: The bucketing scheme (only 1 exists).
        matcher: The compiled targeting rules, or ``None`` when everyone is eligible.
        state: ``"running"`` or ``"paused"`` (both split traffic the same way).
    """

    id: str
    candidate_version: int
    baseline_version: int
    weight_bps: int
    salt: str
    hash_version: int
    matcher: Matcher | None
    state: str = "running"
    _prefix: str = field(init=False, repr=False, compare=False)
    # The arms' edges as 32-bit hash bounds (bucketing.hash_bound): canary below _canary_end,
    # control from _control_start to below _control_end.
    _canary_end: int = field(init=False, repr=False, compare=False)
    _control_start: int = field(init=False, repr=False, compare=False)
    _control_end: int = field(init=False, repr=False, compare=False)
    _canary: Resolution = field(init=False, repr=False, compare=False)
    _control: Resolution = field(init=False, repr=False, compare=False)
    _baseline: Resolution = field(init=False, repr=False, compare=False)
    _unitless: Resolution = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "_prefix", f"{self.salt}:")
        # An empty range when the weight is above half: no control arm then.
        end = CONTROL_START + self.weight_bps if self.weight_bps <= CONTROL_START else CONTROL_START
        put(self, "_canary_end", hash_bound(self.weight_bps))
        put(self, "_control_start", hash_bound(CONTROL_START))
        put(self, "_control_end", hash_bound(end))
        put(self, "_canary", Resolution(self.candidate_version, ARM_CANARY, self.id, False))
        put(self, "_control", Resolution(self.baseline_version, ARM_CONTROL, self.id, False))
        put(self, "_baseline", Resolution(self.baseline_version, ARM_BASELINE, self.id, False))
        put(self, "_unitless", Resolution(self.baseline_version, ARM_BASELINE, self.id, True))

    def chooser(
        self, canary: T, control: T, baseline: T, unitless: T
    ) -> Callable[[str | None, Mapping[str, Any] | None], T]:
        """``choose(unit, context)``: :func:`resolve`'s decision for this release, answered
        with one of the four given objects (for ``_canary``, ``_control``, ``_baseline`` and
        ``_unitless``) instead of a :class:`Resolution`, with every constant bound ahead:
        the SDK's ``get`` calls it directly (``tests/spec`` pins it to the same cases)."""
        matcher, prefix, h, empty = self.matcher, self._prefix, _hash, _EMPTY
        canary_end, start, control_end = self._canary_end, self._control_start, self._control_end

        # Two closures that repeat the bucketing on purpose: the untargeted one (most releases)
        # pays for no matcher test on the SDK's hot path; a shared helper would add a call.
        if matcher is None:

            def choose(unit: str | None, context: Mapping[str, Any] | None) -> T:
                if unit is None or unit == "":
                    return unitless
                x = h(f"{prefix}{unit}", 0, False)
                if x < canary_end:
                    return canary
                if start <= x < control_end:
                    return control
                return baseline

            return choose

        def choose_targeted(unit: str | None, context: Mapping[str, Any] | None) -> T:
            if not matcher(empty if context is None else context):
                return baseline
            if unit is None or unit == "":
                return unitless
            x = h(f"{prefix}{unit}", 0, False)
            if x < canary_end:
                return canary
            if start <= x < control_end:
                return control
            return baseline

        return choose_targeted

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "release") -> ActiveRelease:
        """Validate a release's JSON form and build it.

        Args:
            data: ``{"id", "baseline_version", "candidate_version", "weight_bps", "salt",
                "hash_version", "targeting", "state"}``; ``prompt`` and ``label`` may be present
                and are ignored; ``targeting`` may be absent or null; ``state`` defaults to
                ``"running"``.
            path: How the object is named in error messages and ``field``.

        Returns:
            The release with its targeting compiled.

        Raises:
            InvalidInputError: A field is missing or wrong, the hash version is not supported
                by this code, the state is not an active one, or the targeting is invalid.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"{path}: must be an object", field=path)
        release_id = data.get("id")
        if not isinstance(release_id, str) or not release_id:
            raise InvalidInputError(f"{path}.id: must be a non-empty string", field=f"{path}.id")
        baseline = _version(data, "baseline_version", path)
        candidate = _version(data, "candidate_version", path)
        weight = data.get("weight_bps")
        if not _is_int(weight) or not 0 <= weight <= BUCKETS:
            raise InvalidInputError(
                f"{path}.weight_bps: must be an integer from 0 to {BUCKETS} (basis points)",
                field=f"{path}.weight_bps",
            )
        salt = data.get("salt")
        if not isinstance(salt, str) or not salt:
            raise InvalidInputError(
                f"{path}.salt: must be a non-empty string", field=f"{path}.salt"
            )
        hash_version = data.get("hash_version")
        if hash_version != HASH_VERSION or not _is_int(hash_version):
            raise InvalidInputError(
                f"{path}.hash_version: {hash_version!r} is not supported; this version of "
                f"promptstage implements hash_version {HASH_VERSION} only (upgrade to resolve it)",
                field=f"{path}.hash_version",
            )
        state = data.get("state", "running")
        if state not in ACTIVE_STATES:
            raise InvalidInputError(
                f"{path}.state: {state!r} is not an active state; pass only running or paused "
                "releases",
                field=f"{path}.state",
            )
        targeting = data.get("targeting")
        matcher = None
        if targeting is not None:
            rules = validate_rules(targeting, path=f"{path}.targeting")
            # A group without rules matches everyone: skip the call on the hot path.
            matcher = compile_rules(rules) if rules["rules"] else None
        return cls(release_id, candidate, baseline, weight, salt, hash_version, matcher, state)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _version(data: Mapping[str, Any], key: str, path: str) -> int:
    value = data.get(key)
    if not _is_int(value) or value < 1:
        raise InvalidInputError(
            f"{path}.{key}: must be a version number (an integer >= 1)", field=f"{path}.{key}"
        )
    return value


_NO_RELEASE: dict[int, Resolution] = {}
_NO_RELEASE_MAX: Final = 4096


def _no_release(version: int) -> Resolution:
    """Build (and, for the common small version numbers, keep) the no-release answer."""
    resolution = Resolution(version, ARM_BASELINE, None, False)
    if len(_NO_RELEASE) < _NO_RELEASE_MAX:
        _NO_RELEASE[version] = resolution
    return resolution


def resolve(
    label_version: int,
    release: ActiveRelease | None,
    unit: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Resolution:
    """Pick the version one call should use.

    Args:
        label_version: The version the label points to.
        release: The label's running or paused release, or ``None``.
        unit: The stickiness key (user id, else conversation id); ``None`` or ``""`` if unknown.
            Other types are hashed by their ``str()`` (``42`` buckets like ``"42"``).
        context: Attributes for the targeting rules (strings or JSON scalars).

    Returns:
        The version, arm, release id and unitless flag (see the module docstring for the rules).
        Equal inputs return equal (often identical, shared) objects; treat them as read-only.
    """
    if release is None:
        cached = _NO_RELEASE.get(label_version)
        return cached if cached is not None else _no_release(label_version)
    matcher = release.matcher
    if matcher is not None and not matcher(_EMPTY if context is None else context):
        return release._baseline
    if unit is None or unit == "":
        return release._unitless
    x = _hash(f"{release._prefix}{unit}", 0, False)  # compared with the arms' hash bounds
    if x < release._canary_end:
        return release._canary
    if release._control_start <= x < release._control_end:
        return release._control
    return release._baseline
