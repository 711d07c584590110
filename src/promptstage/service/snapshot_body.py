"""The ``/snapshot`` body as pre-serialized JSON fragments, re-assembled by concatenation.

Both ways of producing a state use these pieces: a full build (``snapshot.build_state``) and
bringing a cached state forward (``snapshot_delta.apply_events``). Entries are sorted by key
on assembly, so the same state always gives the same bytes however it was reached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "SNAPSHOT_FORMAT",
    "Fragments",
    "assemble_body",
    "dumps",
    "prompt_fragment",
    "version_fragment",
]

SNAPSHOT_FORMAT: Final = 1

# One encoder for every fragment: ``json.dumps`` with non-default options builds a new
# ``JSONEncoder`` per call, which dominates for the tens of thousands of small fragments.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(slots=True)
class Fragments:
    """The snapshot body as pre-serialized pieces, each ``"key":value`` or a list item.

    Attributes:
        prompts: Prompt name -> ``"name":{"type":...,"labels":{...}}``.
        versions: ``(prompt, number)`` -> ``"prompt@number":{...version...}``.
        releases: ``(prompt, label)`` -> the release's runtime JSON.
    """

    prompts: dict[str, str] = field(default_factory=dict)
    versions: dict[tuple[str, int], str] = field(default_factory=dict)
    releases: dict[tuple[str, str], str] = field(default_factory=dict)


def prompt_fragment(name: str, type_: str, labels: dict[str, int]) -> str:
    """The ``prompts`` entry of one prompt (labels sorted so the bytes do not depend on history)."""
    return f"{dumps(name)}:{dumps({'type': type_, 'labels': dict(sorted(labels.items()))})}"


def version_fragment(prompt: str, number: int, wire: dict[str, Any]) -> str:
    """The ``versions`` entry of one version, from its wire JSON."""
    return f"{dumps(f'{prompt}@{number}')}:{dumps(wire)}"


def assemble_body(fmt: int, project: str, seq: int, fragments: Fragments) -> bytes:
    """Join the fragments into the snapshot body (entries sorted by key, so the same state always
    gives the same bytes whether it was built or brought forward)."""
    f = fragments
    return (
        f'{{"format":{fmt},"project":{dumps(project)},"seq":{seq},'
        f'"prompts":{{{",".join([f.prompts[k] for k in sorted(f.prompts)])}}},'
        f'"versions":{{{",".join([f.versions[k] for k in sorted(f.versions)])}}},'
        f'"releases":[{",".join([f.releases[k] for k in sorted(f.releases)])}]}}'
    ).encode()
