"""The resolvable state a client holds: verified, precomputed, immutable, swapped whole.

A :class:`State` is built from a snapshot (``GET /snapshot``, a last-known-good file or a
bootstrap) by :func:`build_state`, and a new one from each stream event by :func:`apply_event`.
Both check every version's digest first and raise :class:`~promptstage.errors.IntegrityError`
on any mismatch, so a tampered payload never replaces a good state. Nothing here does I/O.

For every (prompt, label) an :class:`Entry` holds the :class:`ResolvedPrompt` of the label's
version and, when a release is active, one per arm, so ``get`` is a dict lookup plus, for a
release, one call to :func:`promptstage.rollout.resolve`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from promptstage.domain.canonical import version_digest
from promptstage.domain.config import Config
from promptstage.domain.names import LATEST
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES, CompiledTemplate
from promptstage.errors import IntegrityError, InvalidInputError, NotFoundError
from promptstage.rollout.resolve import ActiveRelease, Resolution

from .prompt import ResolvedPrompt

__all__ = [
    "SNAPSHOT_FORMAT",
    "Entry",
    "State",
    "VersionData",
    "advance",
    "build_state",
    "replace_prompt",
    "version_data",
    "with_latest",
]

log = logging.getLogger("promptstage")

SNAPSHOT_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class VersionData:
    """One verified version: its wire form, typed config and compiled template."""

    key: str
    digest: str
    raw: Mapping[str, Any]
    config: Config
    compiled: CompiledTemplate


@dataclass(frozen=True, slots=True)
class Entry:
    """What ``get`` needs for one (prompt, label)."""

    version: int
    base: ResolvedPrompt
    release: ActiveRelease | None = None
    arms: Mapping[tuple[int, str, bool], ResolvedPrompt] = field(default_factory=dict)
    # id(Resolution) -> (Resolution, prompt): the release's answers are shared objects, so
    # after the first call per arm the lookup is by identity (the Resolution is kept alive).
    seen: dict[int, tuple[Resolution, ResolvedPrompt]] = field(default_factory=dict)

    def arm_prompt(self, res: Resolution) -> ResolvedPrompt:
        """The prebuilt prompt for a release's answer (``get`` first tries ``seen`` inline)."""
        hit = self.seen.get(id(res))
        if hit is not None and hit[0] is res:
            return hit[1]
        found = self.arms.get((res.version, res.arm, res.unitless), self.base)
        if len(self.seen) < 16:  # a release has four shared answers; never grow unbounded
            self.seen[id(res)] = (res, found)
        return found


@dataclass(frozen=True, slots=True)
class State:
    """An immutable view of one project's resolvable state."""

    project: str
    seq: int
    etag: str | None
    source: str
    prompts: Mapping[str, Mapping[str, Any]]
    versions: Mapping[str, VersionData]
    releases: Mapping[tuple[str, str], Mapping[str, Any]]
    entries: Mapping[tuple[str, str], Entry]
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES  # what versions are compiled with

    def to_snapshot(self) -> dict[str, Any]:
        """The snapshot wire form of this state (for the last-known-good file)."""
        return {
            "format": SNAPSHOT_FORMAT,
            "project": self.project,
            "seq": self.seq,
            "prompts": {name: dict(p) for name, p in self.prompts.items()},
            "versions": {key: dict(v.raw) for key, v in self.versions.items()},
            "releases": [dict(r) for r in self.releases.values()],
        }

    def not_found(self, name: str, label: str) -> NotFoundError:
        """The error ``get`` raises for a prompt or label this state does not have."""
        prompt = self.prompts.get(name)
        if prompt is None:
            import difflib  # only on this error path

            close = difflib.get_close_matches(name, list(self.prompts), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return NotFoundError(
                f"prompt {name!r} does not exist in project {self.project!r} "
                f"(snapshot seq {self.seq}, from {self.source}){hint}",
                field="name",
            )
        labels = ", ".join(sorted(prompt["labels"])) or "none"
        return NotFoundError(
            f"prompt {name!r} has no label {label!r} (its labels: {labels}; "
            f"snapshot seq {self.seq}, from {self.source})",
            field="label",
        )


def _fail(where: str, why: str) -> IntegrityError:
    return IntegrityError(f"rejected payload: {where}: {why}", field=where)


def version_data(
    key: str,
    raw: Any,
    known: Mapping[str, VersionData],
    max_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
) -> VersionData:
    """Verify one version's wire form (digest recomputed) and compile it; its renders are
    bounded by ``max_bytes``.

    A version already held with the same key and digest is returned as held: its content was
    verified when it arrived, and the held copy is used rather than the new bytes.

    Raises:
        IntegrityError: The payload is malformed, its key does not match, or its digest does
            not match its content.
    """
    if not isinstance(raw, Mapping):
        raise _fail(key, "a version must be an object")
    digest = raw.get("digest")
    held = known.get(key)
    if held is not None and held.digest == digest:
        return held
    try:
        prompt, number, type_ = raw["prompt"], raw["version"], raw["type"]
        template, variables, config = raw["template"], raw["variables"], raw["config"]
    except KeyError as exc:
        raise _fail(key, f"missing field {exc.args[0]!r}") from None
    if f"{prompt}@{number}" != key:
        raise _fail(key, f"names {prompt}@{number} instead")
    if (
        type_ not in ("text", "chat")
        or not isinstance(variables, list)
        or not isinstance(config, dict)
    ):
        raise _fail(key, "type, variables or config has the wrong shape")
    try:
        actual = version_digest(type_, template, variables, config)
    except (TypeError, ValueError) as exc:
        raise _fail(key, f"content is not canonical JSON ({exc})") from None
    if actual != digest:
        raise _fail(key, f"digest mismatch: payload says {digest!r}, content hashes to {actual!r}")
    includes = raw.get("includes") or {}
    try:
        typed = Config.from_dict(config)
        compiled = CompiledTemplate(type_, template, variables, includes, max_bytes=max_bytes)
    except (InvalidInputError, KeyError, TypeError, AttributeError) as exc:
        raise _fail(key, f"version does not compile ({exc})") from None
    return VersionData(key, actual, dict(raw), typed, compiled)


def _prompt_for(
    name: str, label: str, vd: VersionData, arm: str, release_id: str | None, unitless: bool
) -> ResolvedPrompt:
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


def _entries_of(
    name: str,
    labels: Mapping[str, int],
    versions: Mapping[str, VersionData],
    releases: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[tuple[str, str], Entry]:
    out: dict[tuple[str, str], Entry] = {}
    for label, number in labels.items():
        vd = versions.get(f"{name}@{number}")
        if vd is None:
            raise _fail(
                f"prompts.{name}.labels.{label}", f"points at {name}@{number}, not included"
            )
        base = _prompt_for(name, label, vd, "baseline", None, False)
        raw_release = releases.get((name, label))
        entry = Entry(number, base)
        if raw_release is not None:
            entry = _with_release(name, label, entry, raw_release, versions) or entry
        out[(name, label)] = entry
    return out


def _with_release(
    name: str,
    label: str,
    entry: Entry,
    raw: Mapping[str, Any],
    versions: Mapping[str, VersionData],
) -> Entry | None:
    try:
        release = ActiveRelease.from_dict(raw, path=f"releases[{name}/{label}]")
    except InvalidInputError as exc:
        log.warning(
            "promptstage: ignoring release on %s/%s, serving the label: %s", name, label, exc
        )
        return None
    arms: dict[tuple[int, str, bool], ResolvedPrompt] = {}
    for number, arm, unitless in (
        (release.baseline_version, "baseline", False),
        (release.baseline_version, "baseline", True),
        (release.baseline_version, "control", False),
        (release.candidate_version, "canary", False),
    ):
        vd = versions.get(f"{name}@{number}")
        if vd is None:
            log.warning(
                "promptstage: release %s on %s/%s needs %s@%s, which the snapshot lacks; "
                "serving the label",
                release.id,
                name,
                label,
                name,
                number,
            )
            return None
        arms[(number, arm, unitless)] = _prompt_for(name, label, vd, arm, release.id, unitless)
    return Entry(entry.version, entry.base, release, arms)


def build_state(
    snapshot: Any,
    project: str,
    *,
    source: str,
    etag: str | None = None,
    previous: State | None = None,
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
) -> State:
    """Verify a whole snapshot and precompute everything ``get`` needs.

    Args:
        snapshot: The decoded ``GET /snapshot`` body (see ``docs/protocol.md``).
        project: The project this client serves; a snapshot of another one is rejected.
        source: ``"server"``, ``"lkg"`` or ``"bootstrap"``.
        etag: The response's ``ETag``, sent back as ``If-None-Match``.
        previous: The state held now; versions it already verified are reused.
        max_rendered_bytes: The longest text a version of this state renders.

    Raises:
        IntegrityError: Anything is malformed or any digest does not match.
    """
    if not isinstance(snapshot, Mapping):
        raise _fail("snapshot", "must be a JSON object")
    fmt = snapshot.get("format", SNAPSHOT_FORMAT)
    if fmt != SNAPSHOT_FORMAT:
        raise _fail("snapshot.format", f"{fmt!r} is not supported by this SDK (upgrade it)")
    if snapshot.get("project") != project:
        raise _fail("snapshot.project", f"is {snapshot.get('project')!r}, expected {project!r}")
    seq = snapshot.get("seq")
    prompts_in = snapshot.get("prompts")
    versions_in = snapshot.get("versions")
    releases_in = snapshot.get("releases") or []
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _fail("snapshot.seq", "must be a non-negative integer")
    if not isinstance(prompts_in, Mapping) or not isinstance(versions_in, Mapping):
        raise _fail("snapshot", "prompts and versions must be objects")
    if not isinstance(releases_in, list):
        raise _fail("snapshot.releases", "must be a list")
    known = previous.versions if previous is not None else {}
    versions = {
        key: version_data(key, raw, known, max_rendered_bytes) for key, raw in versions_in.items()
    }
    prompts: dict[str, Mapping[str, Any]] = {}
    for name, p in prompts_in.items():
        labels = p.get("labels") if isinstance(p, Mapping) else None
        if not isinstance(labels, Mapping) or p.get("type") not in ("text", "chat"):
            raise _fail(f"prompts.{name}", "must be {type, labels}")
        prompts[name] = {"type": p["type"], "labels": dict(labels)}
    releases: dict[tuple[str, str], Mapping[str, Any]] = {}
    for i, r in enumerate(releases_in):
        if not isinstance(r, Mapping) or not isinstance(r.get("prompt"), str):
            raise _fail(f"snapshot.releases[{i}]", "must be an object with prompt and label")
        releases[(r["prompt"], str(r.get("label")))] = dict(r)
    entries: dict[tuple[str, str], Entry] = {}
    for name, p in prompts.items():
        entries.update(_entries_of(name, p["labels"], versions, releases))
    return State(
        project, seq, etag, source, prompts, versions, releases, entries, max_rendered_bytes
    )


def replace_prompt(
    state: State,
    name: str,
    prompt: Mapping[str, Any],
    new_versions: Mapping[str, VersionData],
    seq: int,
    drop_release_on: str | None = None,
    set_release: Mapping[str, Any] | None = None,
) -> State:
    """A new state with one prompt's type/labels replaced and ``new_versions`` added.

    ``drop_release_on`` removes the release of that label; ``set_release`` (a release's wire
    form) becomes its label's active release. Versions of that prompt no label or release
    points at any more are dropped.
    """
    releases = dict(state.releases)
    if drop_release_on is not None:
        releases.pop((name, drop_release_on), None)
    if set_release is not None:
        releases[(name, str(set_release["label"]))] = set_release
    versions = dict(state.versions)
    versions.update(new_versions)
    needed = {f"{name}@{n}" for n in prompt["labels"].values()}
    for (rp, _label), r in releases.items():
        if rp == name:
            needed.add(f"{name}@{r.get('baseline_version')}")
            needed.add(f"{name}@{r.get('candidate_version')}")
    prefix = f"{name}@"
    for key in [k for k in versions if k.startswith(prefix) and k not in needed]:
        del versions[key]
    prompts = dict(state.prompts)
    prompts[name] = prompt
    entries = dict(state.entries)
    old = state.prompts.get(name)
    for label in old["labels"] if old is not None else ():
        entries.pop((name, label), None)
    entries.update(_entries_of(name, prompt["labels"], versions, releases))
    # The server's ETag is the quoted sequence number; keep revalidating if that holds.
    etag = f'"{seq}"' if state.etag == f'"{state.seq}"' else None
    return State(
        state.project,
        seq,
        etag,
        state.source,
        prompts,
        versions,
        releases,
        entries,
        state.max_rendered_bytes,
    )


def drop_prompt(state: State, name: str, seq: int) -> State:
    """A new state without prompt ``name``, its versions, releases and entries (archived)."""
    etag = f'"{seq}"' if state.etag == f'"{state.seq}"' else None
    prefix = f"{name}@"
    return State(
        state.project,
        seq,
        etag,
        state.source,
        {k: v for k, v in state.prompts.items() if k != name},
        {k: v for k, v in state.versions.items() if not k.startswith(prefix)},
        {k: v for k, v in state.releases.items() if k[0] != name},
        {k: v for k, v in state.entries.items() if k[0] != name},
        state.max_rendered_bytes,
    )


def advance(state: State, seq: int) -> State:
    """The same state at a later sequence number (an event with no effect)."""
    etag = f'"{seq}"' if state.etag == f'"{state.seq}"' else None
    return State(
        state.project,
        seq,
        etag,
        state.source,
        state.prompts,
        state.versions,
        state.releases,
        state.entries,
        state.max_rendered_bytes,
    )


def with_latest(labels: Mapping[str, int], number: int) -> dict[str, int]:
    """``labels`` with the implicit ``latest`` moved up to ``number`` if it is higher."""
    out = dict(labels)
    if out.get(LATEST, 0) < number:
        out[LATEST] = number
    return out
