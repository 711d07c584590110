"""``ProjectState``: one project's resolvable state, the value the snapshot cache holds.

It is built from the store by ``snapshot.build_state`` and brought forward by
``snapshot_delta.apply_events``; both depend on this module and neither on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptstage.domain.models import Version
from promptstage.domain.template import DEFAULT_MAX_RENDERED_BYTES, CompiledTemplate
from promptstage.rollout.resolve import ActiveRelease

from .snapshot_body import SNAPSHOT_FORMAT, Fragments, assemble_body

__all__ = ["ProjectState"]


@dataclass(slots=True)
class ProjectState:
    """One project's resolvable state at sequence ``seq``.

    Treated as immutable once published in the cache (readers hold it without a lock): a change
    produces a new state, by :func:`promptstage.service.snapshot.build_state` or by
    :func:`promptstage.service.snapshot_delta.apply_events`. Only the memoized body and the
    compiled-template cache are filled in later, and both are pure functions of the rest.

    Attributes:
        seq: The project's event sequence this state reflects.
        etag: ``"<seq>"``, the ``/snapshot`` ETag.
        project: The project name.
        types: Prompt name -> prompt type.
        labels: ``(prompt, label)`` -> version number, ``latest`` included.
        versions: Every version a label, ``latest`` or an active release points at.
        releases: ``(prompt, label)`` -> its running or paused release.
        checked_at: ``time.monotonic()`` when ``seq`` was last confirmed current.
        prompt_labels: Prompt name -> label -> version (``labels`` grouped by prompt).
        fragments: The body as pre-serialized pieces, so it is re-assembled, not re-encoded.
        compiled: Compiled templates, filled on first use.
    """

    seq: int
    etag: str
    project: str
    types: dict[str, str]
    labels: dict[tuple[str, str], int]
    versions: dict[tuple[str, int], Version]
    releases: dict[tuple[str, str], ActiveRelease]
    checked_at: float
    prompt_labels: dict[str, dict[str, int]] = field(default_factory=dict)
    fragments: Fragments = field(default_factory=Fragments)
    compiled: dict[tuple[str, int], CompiledTemplate] = field(default_factory=dict)
    _body: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def body(self) -> bytes:
        """The ``/snapshot`` body, assembled on first use: resolve and 304s never pay for it."""
        body = self._body
        if body is None:
            # Two threads may both assemble it; the results are identical, so no lock.
            body = self._body = assemble_body(
                SNAPSHOT_FORMAT, self.project, self.seq, self.fragments
            )
        return body

    def template(
        self, prompt: str, number: int, max_bytes: int = DEFAULT_MAX_RENDERED_BYTES
    ) -> CompiledTemplate:
        """The compiled template of version ``number`` of ``prompt``, compiled on first use,
        rendering at most ``max_bytes`` (one server has one limit)."""
        key = (prompt, number)
        found = self.compiled.get(key)
        if found is None:
            v = self.versions[key]
            found = self.compiled[key] = CompiledTemplate(
                v.type, v.template, v.variables, v.includes, max_bytes=max_bytes
            )
        return found
