"""``promptstage.lock``: which server version each file was pulled from, kept out of the files.

JSON, sorted, one entry per prompt::

    {"lock_version": 1, "project": "clinic", "prompts": {
        "booking.system": {"file": "booking.system.prompt", "version": 3,
                           "digest": "sha256:...", "labels": {"prod": 3}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .spec import FileFormatError

LOCK_NAME = "promptstage.lock"
LOCK_VERSION = 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One prompt as last pulled or pushed."""

    file: str
    version: int
    digest: str
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Lock:
    """The lock file's content."""

    project: str
    prompts: dict[str, Entry] = field(default_factory=dict)

    def to_text(self) -> str:
        """Stable JSON (sorted keys, two-space indent, final newline) for small git diffs."""
        doc = {
            "lock_version": LOCK_VERSION,
            "project": self.project,
            "prompts": {
                name: {"file": e.file, "version": e.version, "digest": e.digest, "labels": e.labels}
                for name, e in self.prompts.items()
            },
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def parse_lock(text: str) -> Lock:
    """Read a lock file.

    Raises:
        FileFormatError: not JSON, or not the shape written by :meth:`Lock.to_text`.
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(LOCK_NAME, f"not valid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(doc, dict) or doc.get("lock_version") != LOCK_VERSION:
        raise FileFormatError(
            LOCK_NAME, f"not a lock_version {LOCK_VERSION} lock file; run `promptstage files pull`"
        )
    project, prompts = doc.get("project"), doc.get("prompts")
    if not isinstance(project, str) or not isinstance(prompts, dict):
        raise FileFormatError(
            LOCK_NAME, "needs 'project' and 'prompts'; run `promptstage files pull`"
        )
    entries = {}
    for name, raw in prompts.items():
        entries[name] = _entry(name, raw)
    return Lock(project, entries)


def _entry(name: str, raw: Any) -> Entry:
    """One prompt's entry, shape-checked."""
    ok = (
        isinstance(raw, dict)
        and isinstance(raw.get("file"), str)
        and isinstance(raw.get("version"), int)
        and isinstance(raw.get("digest"), str)
        and isinstance(raw.get("labels", {}), dict)
    )
    if not ok:
        raise FileFormatError(
            LOCK_NAME,
            f"prompts.{name} needs file, version, digest and labels; run `promptstage files pull`",
        )
    return Entry(raw["file"], raw["version"], raw["digest"], dict(raw.get("labels", {})))
