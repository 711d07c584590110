"""The ``/snapshot`` body as pre-serialized JSON fragments, one set per prompt, joined on demand.

Both ways of producing a state encode with these functions: a full build
(``snapshot.build_state``) and bringing a cached state forward (``snapshot_delta.apply_events``),
which re-encodes only the prompts an event touched. A prompt's fragments are its entry of
``prompts``, its versions' entries of ``versions`` (one joined piece, by version number) and its
releases (one joined piece, by label). :func:`assemble_body` joins them in prompt-name order,
which is the order of the whole body's keys, so the same state always gives the same bytes
however it was reached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

from promptstage.domain.models import Version, iso_utc

__all__ = [
    "SNAPSHOT_FORMAT",
    "EncodedValues",
    "PromptFragments",
    "assemble_body",
    "dumps",
    "prompt_entry",
    "releases_part",
    "version_text",
    "versions_part",
]

SNAPSHOT_FORMAT: Final = 1

# One encoder for every fragment: ``json.dumps`` with non-default options builds a new
# ``JSONEncoder`` per call, which dominates for the tens of thousands of small fragments.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
# ``dumps`` of a str is this C function (with ensure_ascii=False); calling it directly skips the
# encoder's Python-level dispatch, six times per version in a 100,000-prompt build.
_string: Final[Callable[[str], str]] = json.encoder.encode_basestring


class PromptFragments(Protocol):
    """What :func:`assemble_body` reads of one prompt (``project_state.PromptState``)."""

    @property
    def entry(self) -> bytes: ...
    @property
    def versions_json(self) -> bytes: ...
    @property
    def releases_json(self) -> bytes: ...


def prompt_entry(name: str, type_: str, labels: Mapping[str, int]) -> bytes:
    """The ``prompts`` entry of one prompt (labels sorted so the bytes do not depend on history)."""
    return (
        f"{dumps(name)}:{dumps({'type': type_, 'labels': dict(sorted(labels.items()))})}".encode()
    )


class EncodedValues:
    """Memoized JSON text of the values versions share (configs, variable lists), for one
    build: ``build_state`` reads equal values as one object, so each is encoded once."""

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[int, tuple[Any, str]] = {}  # id -> (the value, kept alive; its text)

    def __call__(self, value: Any) -> str:
        found = self._texts.get(id(value))
        if found is None:
            found = self._texts[id(value)] = (value, dumps(value))
        return found[1]


def version_text(v: Version, shared: Callable[[Any], str] = dumps) -> str:
    """``dumps(version_json(v))``, spelled out so the shared values go through ``shared``."""
    return (
        f'{{"prompt":{_string(v.prompt)},"version":{v.number},"digest":{_string(v.digest)},'
        f'"type":{_string(v.type)},"template":{dumps(v.template)},'
        f'"variables":{shared(v.variables)},"config":{shared(v.config)},'
        f'"includes":{shared(v.includes)},"author":{_string(v.author)},'
        f'"message":{_string(v.message)},"parent":{dumps(v.parent)},'
        f'"created_at":{_string(iso_utc(v.created_at))}}}'
    )


def versions_part(
    prompt: str, versions: Mapping[int, Version], shared: Callable[[Any], str] = dumps
) -> bytes:
    """The ``versions`` entries of one prompt's versions, by number, comma-joined (``b""`` for
    none)."""
    return ",".join(
        [
            f"{_string(f'{prompt}@{n}')}:{version_text(versions[n], shared)}"
            for n in sorted(versions)
        ]
    ).encode()


def releases_part(releases: Mapping[str, str]) -> bytes:
    """One prompt's release objects (label -> runtime JSON text), by label, comma-joined."""
    return ",".join([releases[label] for label in sorted(releases)]).encode()


def assemble_body(fmt: int, project: str, seq: int, prompts: Iterable[PromptFragments]) -> bytes:
    """Join the prompts' fragments (given in name order) into the snapshot body.

    Name order of prompts is the body's key order everywhere: ``versions`` keys are
    ``name@N`` grouped by prompt and ``releases`` are sorted by ``(prompt, label)``.
    """
    entries: list[bytes] = []
    versions: list[bytes] = []
    releases: list[bytes] = []
    for p in prompts:
        entries.append(p.entry)
        if p.versions_json:
            versions.append(p.versions_json)
        if p.releases_json:
            releases.append(p.releases_json)
    head = f'{{"format":{fmt},"project":{dumps(project)},"seq":{seq},"prompts":{{'.encode()
    return b"".join(
        [
            head,
            b",".join(entries),
            b'},"versions":{',
            b",".join(versions),
            b'},"releases":[',
            b",".join(releases),
            b"]}",
        ]
    )
