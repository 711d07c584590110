"""``ProjectState``: one project's resolvable state, the value the snapshot cache holds.

The state is kept per prompt: a :class:`PromptState` holds one prompt's labels, pointed-at
versions, active releases and pre-serialized snapshot fragments, and the project maps names to
them in a :class:`~promptstage.service.shard_map.ShardMap`. Bringing a state forward replaces
the changed prompts only (O(changed prompt), nothing copied per project), and the ``/snapshot``
body is joined from the cached fragments, lazily, on the first full ``200`` that asks for it.

It is built from the store by ``snapshot.build_state`` and brought forward by
``snapshot_delta.apply_events``; both depend on this module and neither on the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from promptstage.domain.models import Version
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES, CompiledTemplate
from promptstage.rollout.resolve import ActiveRelease, Resolution

from .shard_map import ShardMap
from .snapshot_body import (
    SNAPSHOT_FORMAT,
    assemble_body,
    dumps,
    prompt_entry,
    releases_part,
    versions_part,
)

__all__ = ["ProjectState", "PromptState", "make_prompt_state"]


@dataclass(frozen=True, slots=True)
class PromptState:
    """One prompt of a project state: immutable but for the compiled-template cache.

    Attributes:
        name: The prompt name.
        type: The prompt type.
        labels: Label -> version number, ``latest`` included.
        versions: Number -> version, for every version a label or an active release points at.
        releases: Label -> its running or paused release.
        release_json: Label -> the release's runtime JSON text (its ``releases`` item).
        entry: The prompt's ``prompts`` entry of the body.
        versions_json: Its ``versions`` entries, comma-joined.
        releases_json: Its ``releases`` items, comma-joined.
        compiled: Compiled templates by version number, filled on first use (a pure function
            of the immutable version, so sharing it between states is safe).
        answers: Resolve answers (the body without ``render``) by label and resolution,
            encoded on first use: a pure function of the prompt and those, and bounded by this
            state's labels, versions and release arms.
    """

    name: str
    type: str
    labels: dict[str, int]
    versions: dict[int, Version]
    releases: dict[str, ActiveRelease]
    release_json: dict[str, str]
    entry: bytes
    versions_json: bytes
    releases_json: bytes
    compiled: dict[int, CompiledTemplate] = field(default_factory=dict, compare=False)
    answers: dict[tuple[str, int, str, str | None, bool], bytes] = field(
        default_factory=dict, compare=False
    )

    def answer(self, label: str, r: Resolution) -> bytes:
        """The JSON body of ``GET .../resolve`` (without ``render``) for ``label`` resolved to
        ``r``: the same bytes as ``json.dumps`` of the answer, encoded once and kept."""
        key = (label, r.version, r.arm, r.release_id, r.unitless)
        body = self.answers.get(key)
        if body is None:
            v = self.versions[r.version]
            content = {
                "type": v.type,
                "template": v.template,
                "variables": v.variables,
                "config": v.config,
                "includes": v.includes,
            }
            body = self.answers[key] = (
                f'{{"prompt":{dumps(self.name)},"label":{dumps(label)},"version":{v.number},'
                f'"digest":{dumps(v.digest)},"arm":{dumps(r.arm)},'
                f'"release_id":{dumps(r.release_id)},'
                f'"unitless":{"true" if r.unitless else "false"},{dumps(content)[1:]}'
            ).encode()
        return body


def make_prompt_state(
    name: str,
    type_: str,
    labels: dict[str, int],
    versions: dict[int, Version],
    releases: dict[str, ActiveRelease],
    release_json: dict[str, str],
    compiled: Mapping[int, CompiledTemplate] | None = None,
    shared: Callable[[Any], str] = dumps,
) -> PromptState:
    """A prompt's state with its fragments encoded (O(this prompt)); compiled templates of
    versions it still holds are carried over from ``compiled``; ``shared`` encodes the values
    versions share (an ``EncodedValues`` during a full build)."""
    kept = {n: t for n, t in compiled.items() if n in versions} if compiled else {}
    return PromptState(
        name=name,
        type=type_,
        labels=labels,
        versions=versions,
        releases=releases,
        release_json=release_json,
        entry=prompt_entry(name, type_, labels),
        versions_json=versions_part(name, versions, shared),
        releases_json=releases_part(release_json),
        compiled=kept,
    )


@dataclass(slots=True)
class ProjectState:
    """One project's resolvable state at sequence ``seq``.

    Treated as immutable once published in the cache (readers hold it without a lock): a change
    produces a new state, by :func:`promptstage.service.snapshot.build_state` or by
    :func:`promptstage.service.snapshot_delta.apply_events`. Only the memoized body, the sorted
    names and the compiled-template caches are filled in later, all pure functions of the rest.

    Attributes:
        seq: The project's event sequence this state reflects.
        etag: ``"<seq>"``, the ``/snapshot`` ETag.
        project: The project name.
        prompts: Prompt name -> its state.
        checked_at: ``time.monotonic()`` when ``seq`` was last confirmed current.
        names: The prompt names sorted, or ``None`` until the body needs them (carried over
            by changes that add or remove no prompt).
    """

    seq: int
    etag: str
    project: str
    prompts: ShardMap[str, PromptState]
    checked_at: float
    names: tuple[str, ...] | None = None
    _body: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def body(self) -> bytes:
        """The ``/snapshot`` body, joined from the prompts' fragments on first use: resolve,
        304s and changes nobody fetches in full never pay for it."""
        body = self._body
        if body is None:
            # Two threads may both assemble it; the results are identical, so no lock.
            names = self.sorted_names()
            prompts = self.prompts
            body = self._body = assemble_body(
                SNAPSHOT_FORMAT, self.project, self.seq, [prompts[n] for n in names]
            )
        return body

    def sorted_names(self) -> tuple[str, ...]:
        """The prompt names in order, sorted on first use and kept."""
        names = self.names
        if names is None:
            names = self.names = tuple(sorted(self.prompts))
        return names

    def template(
        self, prompt: str, number: int, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES
    ) -> CompiledTemplate:
        """The compiled template of version ``number`` of ``prompt``, compiled on first use,
        rendering at most ``max_bytes`` (one server has one limit)."""
        p = self.prompts[prompt]
        found = p.compiled.get(number)
        if found is None:
            v = p.versions[number]
            found = p.compiled[number] = CompiledTemplate(
                v.type, v.template, v.variables, v.includes, max_bytes=max_bytes
            )
        return found

    # Whole-project views, O(prompts): for tests, tools and error messages, never a hot path.
    @property
    def types(self) -> dict[str, str]:
        return {name: p.type for name, p in self._each()}

    @property
    def labels(self) -> dict[tuple[str, str], int]:
        return {(name, label): n for name, p in self._each() for label, n in p.labels.items()}

    @property
    def prompt_labels(self) -> dict[str, dict[str, int]]:
        return {name: dict(p.labels) for name, p in self._each()}

    @property
    def versions(self) -> dict[tuple[str, int], Version]:
        return {(name, n): v for name, p in self._each() for n, v in p.versions.items()}

    @property
    def releases(self) -> dict[tuple[str, str], ActiveRelease]:
        return {(name, label): r for name, p in self._each() for label, r in p.releases.items()}

    @property
    def compiled(self) -> dict[tuple[str, int], CompiledTemplate]:
        return {(name, n): t for name, p in self._each() for n, t in p.compiled.items()}

    def _each(self) -> Iterable[tuple[str, PromptState]]:
        return self.prompts.items()
