"""Verified versions and the per-(prompt, label) entries ``get`` reads (no I/O).

A version arrives in its wire form. :func:`version_data` recomputes its digest and compiles it;
only then can an :class:`Entry` serve it. A version that fails is never served: the error names
it (``booking.system@3: digest mismatch ...``).

Verified versions are shared within the process, keyed by ``(key, digest, max_bytes)``: once
a second client's bytes hash to a digest the first one verified, it reuses the first one's
typed config and compiled template instead of keeping its own copies.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from promptstage.domain.canonical import version_digest
from promptstage.domain.config import Config
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES, CompiledTemplate
from promptstage.errors import IntegrityError, InvalidInputError
from promptstage.rollout.resolve import ActiveRelease, Resolution

from .prompt import ResolvedPrompt

__all__ = ["Entry", "VersionData", "fail", "make_entry", "prompt_for", "version_data"]

log = logging.getLogger("promptstage")

_NO_ARMS: Mapping[tuple[int, str, bool], ResolvedPrompt] = MappingProxyType({})


@dataclass(frozen=True, slots=True, weakref_slot=True)
class VersionData:
    """One verified version: its wire form, typed config and compiled template."""

    key: str
    digest: str
    raw: Mapping[str, Any]
    config: Config
    compiled: CompiledTemplate


# (key, digest, max_bytes) -> the verified version, while any state holds it.
_VERIFIED: weakref.WeakValueDictionary[tuple[str, str, int], VersionData] = (
    weakref.WeakValueDictionary()
)


@dataclass(frozen=True, slots=True)
class Entry:
    """What ``get`` needs for one (prompt, label)."""

    version: int
    base: ResolvedPrompt
    release: ActiveRelease | None = None
    arms: Mapping[tuple[int, str, bool], ResolvedPrompt] = field(default_factory=lambda: _NO_ARMS)
    # id(Resolution) -> (Resolution, prompt): the release's answers are shared objects, so
    # after the first call per arm the lookup is by identity (the Resolution is kept alive).
    seen: dict[int, tuple[Resolution, ResolvedPrompt]] | None = None  # with a release only
    # choose(unit, context) -> the arm's prebuilt prompt (ActiveRelease.chooser): ``get``'s
    # whole release path, with nothing looked up or allocated but the hash key.
    pick: Callable[[str | None, Mapping[str, Any] | None], ResolvedPrompt] | None = None

    def arm_prompt(self, res: Resolution) -> ResolvedPrompt:
        """The prebuilt prompt for a release's answer (``get`` first tries ``seen`` inline)."""
        seen = self.seen
        hit = seen.get(id(res)) if seen is not None else None
        if hit is not None and hit[0] is res:
            return hit[1]
        found = self.arms.get((res.version, res.arm, res.unitless), self.base)
        if seen is not None and len(seen) < 16:  # four shared answers; never grow unbounded
            seen[id(res)] = (res, found)
        return found


def fail(where: str, why: str) -> IntegrityError:
    """The error for a malformed or tampered payload at ``where``."""
    return IntegrityError(f"rejected payload: {where}: {why}", field=where)


def check_key(key: str, raw: Any) -> None:
    """The cheap shape check done when a version arrives (the digest is checked on first use).

    Raises:
        IntegrityError: ``raw`` is not an object or names another version than ``key``.
    """
    if not isinstance(raw, Mapping):
        raise fail(key, "a version must be an object")
    if f"{raw.get('prompt')}@{raw.get('version')}" != key:
        raise fail(key, f"names {raw.get('prompt')}@{raw.get('version')} instead")


def version_data(
    key: str,
    raw: Any,
    known: Mapping[str, VersionData],
    max_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
) -> VersionData:
    """Verify one version's wire form (digest recomputed) and compile it; its renders are
    bounded by ``max_bytes``.

    A version already held with the same key and digest (in ``known``) is returned as held:
    its content was verified when it arrived, and the held copy is used rather than the new
    bytes. Bytes that hash to a version another state of this process verified get that
    state's object (compiled once, held once).

    Raises:
        IntegrityError: The payload is malformed, its key does not match, or its digest does
            not match its content.
    """
    if not isinstance(raw, Mapping):
        raise fail(key, "a version must be an object")
    digest = raw.get("digest")
    held = known.get(key)
    if held is not None and held.digest == digest and held.compiled.max_bytes == max_bytes:
        return held
    try:
        prompt, number, type_ = raw["prompt"], raw["version"], raw["type"]
        template, variables, config = raw["template"], raw["variables"], raw["config"]
    except KeyError as exc:
        raise fail(key, f"missing field {exc.args[0]!r}") from None
    if f"{prompt}@{number}" != key:
        raise fail(key, f"names {prompt}@{number} instead")
    if (
        type_ not in ("text", "chat")
        or not isinstance(variables, list)
        or not isinstance(config, dict)
    ):
        raise fail(key, "type, variables or config has the wrong shape")
    try:
        actual = version_digest(type_, template, variables, config)
    except (TypeError, ValueError) as exc:
        raise fail(key, f"content is not canonical JSON ({exc})") from None
    if actual != digest:
        raise fail(key, f"digest mismatch: payload says {digest!r}, content hashes to {actual!r}")
    shared = _VERIFIED.get((key, actual, max_bytes))
    if shared is not None:  # these bytes hash to a version another state verified: share it
        return shared
    includes = raw.get("includes") or {}
    try:
        typed = _typed_config(config)
        compiled = CompiledTemplate(type_, template, variables, includes, max_bytes=max_bytes)
    except (InvalidInputError, KeyError, TypeError, AttributeError) as exc:
        raise fail(key, f"version does not compile ({exc})") from None
    vd = VersionData(key, actual, raw, typed, compiled)  # the wire form, kept read-only
    _VERIFIED[(key, actual, max_bytes)] = vd
    return vd


# id(config dict) -> (that dict, its Config): versions sharing one config object (see
# ``state._Sharer``) share one Config. The dict is held, so its id cannot be reused.
_CONFIGS: dict[int, tuple[dict[str, Any], Config]] = {}


def _typed_config(config: dict[str, Any]) -> Config:
    hit = _CONFIGS.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    typed = Config.from_dict(config)
    if len(_CONFIGS) >= 64:
        _CONFIGS.clear()
    _CONFIGS[id(config)] = (config, typed)
    return typed


def prompt_for(
    name: str, label: str, vd: VersionData, arm: str, release_id: str | None, unitless: bool
) -> ResolvedPrompt:
    """The prebuilt value ``get`` returns for one version served on one arm."""
    raw = vd.raw
    return ResolvedPrompt(
        name=name,
        label=label,
        version=int(raw["version"]),
        digest=vd.digest,
        type=raw["type"],
        template=raw["template"],
        variables=raw["variables"],
        config=vd.config,
        arm=arm,
        release_id=release_id,
        unitless=unitless,
        _compiled=vd.compiled,
    )


def make_entry(
    name: str,
    label: str,
    number: int,
    verified: Any,
    release_raw: Mapping[str, Any] | None,
) -> Entry:
    """The entry of ``name``/``label`` at version ``number``, with its release's arms.

    ``verified(number)`` returns the verified version or raises ``IntegrityError``. A release
    that cannot be used (invalid, or a version it needs is not held) is logged and the label
    is served alone.
    """
    base = prompt_for(name, label, verified(number), "baseline", None, False)
    if release_raw is None:
        return Entry(number, base)
    try:
        release = ActiveRelease.from_dict(release_raw, path=f"releases[{name}/{label}]")
    except InvalidInputError as exc:
        log.warning(
            "promptstage: ignoring release on %s/%s, serving the label: %s", name, label, exc
        )
        return Entry(number, base)
    arms: dict[tuple[int, str, bool], ResolvedPrompt] = {}
    for n, arm, unitless in (
        (release.baseline_version, "baseline", False),
        (release.baseline_version, "baseline", True),
        (release.baseline_version, "control", False),
        (release.candidate_version, "canary", False),
    ):
        vd = verified(n, required=False)
        if vd is None:
            log.warning(
                "promptstage: release %s on %s/%s needs %s@%s, which the snapshot lacks; "
                "serving the label",
                release.id,
                name,
                label,
                name,
                n,
            )
            return Entry(number, base)
        arms[(n, arm, unitless)] = prompt_for(name, label, vd, arm, release.id, unitless)
    b, c = release.baseline_version, release.candidate_version
    pick = release.chooser(
        arms[(c, "canary", False)],
        arms[(b, "control", False)],
        arms[(b, "baseline", False)],
        arms[(b, "baseline", True)],
    )
    return Entry(number, base, release, arms, {}, pick)
