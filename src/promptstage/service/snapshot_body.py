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
from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from promptstage.domain.models import Version
from promptstage.domain.wire import version_json

__all__ = [
    "SNAPSHOT_FORMAT",
    "PromptFragments",
    "assemble_body",
    "dumps",
    "prompt_entry",
    "releases_part",
    "versions_part",
]

SNAPSHOT_FORMAT: Final = 1

# One encoder for every fragment: ``json.dumps`` with non-default options builds a new
# ``JSONEncoder`` per call, which dominates for the tens of thousands of small fragments.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


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


def versions_part(prompt: str, versions: Mapping[int, Version]) -> bytes:
    """The ``versions`` entries of one prompt's versions, by number, comma-joined (``b""`` for
    none)."""
    return ",".join(
        [f"{dumps(f'{prompt}@{n}')}:{dumps(version_json(versions[n]))}" for n in sorted(versions)]
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


def release_json(wire: dict[str, Any]) -> str:
    """One release's runtime JSON text, as it appears in ``releases``."""
    return dumps(wire)
