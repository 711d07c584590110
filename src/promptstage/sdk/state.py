"""The resolvable state a client holds: indexed by prompt, verified on first use.

A :class:`State` is built from a snapshot (``GET /snapshot``, a last-known-good file or a
bootstrap) by :func:`build_state`, and moved forward by each stream event
(:mod:`promptstage.sdk.events`). Nothing here does I/O.

Layout: a :class:`Store` maps each prompt name to one :class:`PromptRec` (its type, labels,
versions by number and active releases), and holds the flat ``(prompt, label) -> Entry`` map
``get`` reads with one dict lookup. An event replaces one prompt's record and that prompt's
entries, in place, under the store's lock: its cost is the size of the changed prompt, never
of the project (no copy of the whole state, no scan). A :class:`State` is the small immutable
header (sequence number, ETag, source) over the store; the header of an older sequence number
reads the store as it is now.

Verification is lazy so that a cold start is proportional to what is used: a snapshot's
versions are kept in their wire form (their key and shape checked) and each one's digest is
recomputed, and its template compiled, the first time an entry needs it. A version that does
not verify is refused (:class:`~promptstage.errors.IntegrityError` naming it, on every ``get``
of a label pointing at it) and never served. Versions carried by events, and the versions of a
refetched snapshot that the state held did not have, are verified at once, so a tampered
payload is rejected whole and the state held stays.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from promptstage.domain.names import LATEST
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES
from promptstage.errors import NotFoundError

from .entries import Entry, VersionData, check_key, fail, prompt_for, version_data
from .lkg import Packed, encoded
from .store import EntriesView, PromptRec, Store, VersionsView, raw_of

__all__ = [
    "SNAPSHOT_FORMAT",
    "Entry",
    "PromptRec",
    "State",
    "Store",
    "VersionData",
    "advance",
    "build_state",
    "drop_prompt",
    "prompt_for",
    "replace_prompt",
    "version_data",
    "with_latest",
]

log = logging.getLogger("promptstage")

SNAPSHOT_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class State:
    """One project's resolvable state at sequence number ``seq``."""

    project: str
    seq: int
    etag: str | None
    source: str
    store: Store
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES  # what versions are compiled with

    @property
    def prompts(self) -> Mapping[str, PromptRec]:
        """Prompt name -> its record (``rec["type"]``, ``rec["labels"]``)."""
        return self.store.prompts

    @property
    def entries(self) -> Mapping[tuple[str, str], Entry]:
        """Every (prompt, label) -> its entry, built and verified on access."""
        return EntriesView(self.store)

    @property
    def versions(self) -> Mapping[str, VersionData]:
        """Every version held, by ``name@n``, verified on access."""
        return VersionsView(self.store)

    def entry(self, name: str, label: str) -> Entry | None:
        """See :meth:`Store.entry`."""
        return self.store.entry(name, label)

    def has_release(self, name: str, label: str) -> bool:
        """True when ``name``/``label`` has an active release."""
        rec = self.store.prompts.get(name)
        return rec is not None and bool(rec.releases) and label in rec.releases  # type: ignore[operator]

    def to_snapshot(self, packed: bool = False) -> dict[str, Any]:
        """The snapshot wire form of this state.

        With ``packed``, for the last-known-good file (:func:`~.lkg.try_write_lkg`): each
        prompt's entry and each version are handed over already encoded (bytes), and a version
        still held as its file bytes stays so (:class:`~.lkg.Packed`): no container survives
        per prompt or version, so a large write sets off no full garbage collection.
        """
        prompts: dict[str, Any] = {}
        versions: dict[str, Any] = {}
        releases: list[dict[str, Any]] = []
        with self.store.lock:
            items = list(self.store.prompts.items())
        for name, rec in items:
            entry = {"type": rec.type, "labels": dict(rec.labels)}
            prompts[name] = encoded(entry) if packed else entry
            for number, slot in list(rec.versions.items()):
                if not packed:
                    versions[f"{name}@{number}"] = dict(raw_of(slot))
                else:
                    versions[f"{name}@{number}"] = (
                        slot if slot.__class__ is Packed else encoded(raw_of(slot))
                    )
            releases.extend(dict(r) for r in (rec.releases or {}).values())
        return {
            "format": SNAPSHOT_FORMAT,
            "project": self.project,
            "seq": self.seq,
            "prompts": prompts,
            "versions": versions,
            "releases": releases,
        }

    def not_found(self, name: str, label: str) -> NotFoundError:
        """The error ``get`` raises for a prompt or label this state does not have."""
        prompt = self.store.prompts.get(name)
        if prompt is None:
            import difflib  # only on this error path

            close = difflib.get_close_matches(name, list(self.store.prompts), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            return NotFoundError(
                f"prompt {name!r} does not exist in project {self.project!r} "
                f"(snapshot seq {self.seq}, from {self.source}){hint}",
                field="name",
            )
        labels = ", ".join(sorted(prompt.labels)) or "none"
        return NotFoundError(
            f"prompt {name!r} has no label {label!r} (its labels: {labels}; "
            f"snapshot seq {self.seq}, from {self.source})",
            field="label",
        )


class _Sharer:
    """Make equal parts of the versions of one snapshot one object (memory, issue 16).

    Most versions of a project share their config and variables (one model, one input): each
    value equal to one seen recently becomes that object (compared by value, C-level), and the
    type and role strings are interned. Nothing changes in value, so digests are unaffected.
    """

    __slots__ = ("configs", "empty", "names", "variables")

    def __init__(self, names: Mapping[str, Any]) -> None:
        self.configs: list[Any] = []
        self.variables: list[Any] = []
        self.empty: dict[str, Any] = {}
        self.names = {name: name for name in names}  # one string object per prompt name

    @staticmethod
    def _same(seen: list[Any], value: Any) -> Any:
        for i, known in enumerate(seen):
            if known.__class__ is value.__class__ and known == value:
                if i:
                    seen.insert(0, seen.pop(i))  # the most recent match first
                return known
        seen.insert(0, value)
        del seen[16:]
        return value

    def version(self, raw: Any) -> None:
        if not isinstance(raw, dict):
            return
        config, variables, type_ = raw.get("config"), raw.get("variables"), raw.get("type")
        if isinstance(config, dict):
            raw["config"] = self._same(self.configs, config)
        if isinstance(variables, list):
            raw["variables"] = self._same(self.variables, variables)
        if isinstance(type_, str):
            raw["type"] = sys.intern(type_)
        if raw.get("includes") == {}:
            raw["includes"] = self.empty
        name = raw.get("prompt")
        if isinstance(name, str):
            raw["prompt"] = self.names.get(name, name)
        template = raw.get("template")
        if isinstance(template, list):
            for message in template:
                role = message.get("role") if isinstance(message, dict) else None
                if isinstance(role, str):
                    message["role"] = sys.intern(role)


def _slot(key: str, raw: Any, held: PromptRec | None, max_bytes: int) -> Any:
    """What a refetched snapshot keeps for one version: the held verified copy if the digest
    matches, the wire form (verified on first use) if the held one was not verified either,
    else the version verified now (it is new since the state held)."""
    old = held.versions.get(raw["version"]) if held is not None else None
    if old is not None and raw_of(old).get("digest") == raw.get("digest"):
        if old.__class__ is VersionData and old.compiled.max_bytes == max_bytes:
            return old
        return raw
    return version_data(key, raw, {}, max_bytes)


def build_state(
    snapshot: Any,
    project: str,
    *,
    source: str,
    etag: str | None = None,
    previous: State | None = None,
    max_rendered_bytes: int = DEFAULT_MAX_RENDERED_BYTES,
) -> State:
    """Check a whole snapshot's shape and index it by prompt (digests: see the module doc).

    Args:
        snapshot: The decoded ``GET /snapshot`` body (see ``docs/protocol.md``).
        project: The project this client serves; a snapshot of another one is rejected.
        source: ``"server"``, ``"lkg"`` or ``"bootstrap"``.
        etag: The response's ``ETag``, sent back as ``If-None-Match``.
        previous: The state held now: versions it verified are reused, and versions it did not
            hold are verified now (so a tampered refetch is rejected and ``previous`` stays).
        max_rendered_bytes: The longest text a version of this state renders.

    Raises:
        IntegrityError: Anything is malformed, or a version new since ``previous`` does not
            verify.
    """
    if not isinstance(snapshot, Mapping):
        raise fail("snapshot", "must be a JSON object")
    fmt = snapshot.get("format", SNAPSHOT_FORMAT)
    if fmt != SNAPSHOT_FORMAT:
        raise fail("snapshot.format", f"{fmt!r} is not supported by this SDK (upgrade it)")
    if snapshot.get("project") != project:
        raise fail("snapshot.project", f"is {snapshot.get('project')!r}, expected {project!r}")
    seq = snapshot.get("seq")
    prompts_in = snapshot.get("prompts")
    versions_in = snapshot.get("versions")
    releases_in = snapshot.get("releases") or []
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise fail("snapshot.seq", "must be a non-negative integer")
    if not isinstance(prompts_in, Mapping) or not isinstance(versions_in, Mapping):
        raise fail("snapshot", "prompts and versions must be objects")
    if not isinstance(releases_in, list):
        raise fail("snapshot.releases", "must be a list")
    held = previous.store.prompts if previous is not None else None
    by_prompt: dict[str, dict[int, Any]] = {}
    share = _Sharer(prompts_in)
    packed = False  # versions left as file bytes share what they decode to, later
    for key, raw in versions_in.items():
        if raw.__class__ is Packed:  # a last-known-good file's version, decoded on first use
            name, _, digits = key.rpartition("@")
            if not (digits.isascii() and digits.isdigit()):
                raise fail(key, "a version key is name@number")
            if held is None:
                by_prompt.setdefault(name, {})[int(digits)] = raw
                packed = True
                continue
            raw = raw_of(raw)
        check_key(key, raw)
        share.version(raw)
        number = raw["version"]
        if not isinstance(number, int) or isinstance(number, bool):
            raise fail(key, "version must be an integer")
        name = raw["prompt"]
        slot = raw if held is None else _slot(key, raw, held.get(name), max_rendered_bytes)
        by_prompt.setdefault(name, {})[number] = slot
    prompts: dict[str, PromptRec] = {}
    for name, p in prompts_in.items():
        labels = p.get("labels") if isinstance(p, Mapping) else None
        if not isinstance(labels, Mapping) or p.get("type") not in ("text", "chat"):
            raise fail(f"prompts.{name}", "must be {type, labels}")
        versions = by_prompt.get(name, {})
        for label, number in labels.items():
            if number not in versions:
                raise fail(
                    f"prompts.{name}.labels.{label}", f"points at {name}@{number}, not included"
                )
        prompts[name] = PromptRec(p["type"], dict(labels), versions)
    for i, r in enumerate(releases_in):
        if not isinstance(r, Mapping) or not isinstance(r.get("prompt"), str):
            raise fail(f"snapshot.releases[{i}]", "must be an object with prompt and label")
        rec = prompts.get(r["prompt"])
        if rec is not None:
            if rec.releases is None:
                rec.releases = {}
            rec.releases[str(r.get("label"))] = dict(r)
    store = Store(prompts, max_rendered_bytes, share.version if packed else None)
    return State(project, seq, etag, source, store, max_rendered_bytes)


def _next_etag(state: State, seq: int) -> str | None:
    # The server's ETag is the quoted sequence number; keep revalidating if that holds.
    return f'"{seq}"' if state.etag == f'"{state.seq}"' else None


def replace_prompt(
    state: State,
    name: str,
    prompt: Mapping[str, Any] | PromptRec,
    new_versions: Mapping[str, VersionData],
    seq: int,
    drop_release_on: str | None = None,
    set_release: Mapping[str, Any] | None = None,
) -> State:
    """The state at ``seq`` with one prompt's type/labels replaced and ``new_versions`` (each
    verified) added; its cost is the size of that prompt.

    ``drop_release_on`` removes the release of that label; ``set_release`` (a release's wire
    form) becomes its label's active release. Versions of that prompt no label or release
    points at any more are dropped.
    """
    old = state.store.prompts.get(name)
    releases = dict(old.releases) if old is not None and old.releases else {}
    if drop_release_on is not None:
        releases.pop(drop_release_on, None)
    if set_release is not None:
        releases[str(set_release["label"])] = set_release
    versions = dict(old.versions) if old is not None else {}
    for vd in new_versions.values():
        if vd.raw["prompt"] == name:
            versions[int(vd.raw["version"])] = vd
    needed = set(prompt["labels"].values())
    for r in releases.values():
        needed.add(r.get("baseline_version"))
        needed.add(r.get("candidate_version"))
    versions = {n: slot for n, slot in versions.items() if n in needed}
    rec = PromptRec(str(prompt["type"]), dict(prompt["labels"]), versions, releases or None)
    state.store.put(name, rec)
    return State(
        state.project,
        seq,
        _next_etag(state, seq),
        state.source,
        state.store,
        state.max_rendered_bytes,
    )


def drop_prompt(state: State, name: str, seq: int) -> State:
    """The state at ``seq`` without prompt ``name``, its versions, releases and entries."""
    state.store.drop(name)
    return advance(state, seq)


def advance(state: State, seq: int) -> State:
    """The same state at a later sequence number (an event with no effect)."""
    return State(
        state.project,
        seq,
        _next_etag(state, seq),
        state.source,
        state.store,
        state.max_rendered_bytes,
    )


def verified_of(state: State, name: str) -> dict[str, VersionData]:
    """The verified versions of prompt ``name`` by key (for :func:`version_data`'s ``known``)."""
    rec = state.store.prompts.get(name)
    if rec is None:
        return {}
    return {
        f"{name}@{n}": slot
        for n, slot in list(rec.versions.items())
        if isinstance(slot, VersionData)
    }


def with_latest(labels: Mapping[str, int], number: int) -> dict[str, int]:
    """``labels`` with the implicit ``latest`` moved up to ``number`` if it is higher."""
    out = dict(labels)
    if out.get(LATEST, 0) < number:
        out[LATEST] = number
    return out
