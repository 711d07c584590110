"""The last-known-good file and bootstrap snapshots (file I/O only, no network).

The file is an envelope around a snapshot::

    {"format": 1, "checksum": "sha256:<hex>", "etag": "\\"42\\"", "snapshot": {...}}

``checksum`` covers the canonical JSON of ``{"etag", "snapshot"}``, so a truncated, edited or
half-written file is detected and ignored (with a logged warning) instead of served. Writes go
to a temporary file in the same directory, are flushed to disk and renamed over the old file
(``os.replace``), so a crash leaves either the old or the new file, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from promptstage.domain.canonical import canonical_json

__all__ = ["LKG_FORMAT", "checksum", "load_bootstrap", "read_lkg", "try_write_lkg", "write_lkg"]

log = logging.getLogger("promptstage")

LKG_FORMAT: Final = 1


def checksum(snapshot: Mapping[str, Any], etag: str | None) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``{"etag", "snapshot"}``."""
    body = canonical_json({"etag": etag, "snapshot": snapshot})
    return "sha256:" + hashlib.sha256(body).hexdigest()


def write_lkg(path: str | os.PathLike[str], snapshot: Mapping[str, Any], etag: str | None) -> bool:
    """Atomically replace the file at ``path``; return False (and log) if it cannot be written."""
    problem = try_write_lkg(path, snapshot, etag)
    if problem is not None:
        log.warning("promptstage: %s", problem)
    return problem is None


def try_write_lkg(
    path: str | os.PathLike[str], snapshot: Mapping[str, Any], etag: str | None
) -> str | None:
    """Atomically replace the file at ``path`` (its directory is made with mode 0700).

    Returns:
        ``None`` when written, else why not (nothing is logged; the caller decides).
    """
    target = Path(path)
    tmp: str | None = None
    try:
        envelope = {
            "format": LKG_FORMAT,
            "checksum": checksum(snapshot, etag),
            "etag": etag,
            "snapshot": snapshot,
        }
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(envelope, fh, ensure_ascii=False, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
        return None
    except (OSError, TypeError, ValueError) as exc:
        return f"cannot write last-known-good file {target}: {exc}"
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _unwrap(envelope: Any, where: str) -> tuple[dict[str, Any], str | None] | None:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("snapshot"), dict):
        log.warning("promptstage: ignoring %s: not a last-known-good envelope", where)
        return None
    snapshot, etag = envelope["snapshot"], envelope.get("etag")
    if etag is not None and not isinstance(etag, str):
        etag = None
    try:
        actual = checksum(snapshot, etag)
    except (TypeError, ValueError):
        actual = "unhashable"
    if envelope.get("checksum") != actual:
        log.warning(
            "promptstage: ignoring %s: checksum mismatch (file says %r, content hashes to %r); "
            "it was edited or corrupted",
            where,
            envelope.get("checksum"),
            actual,
        )
        return None
    return snapshot, etag


def read_lkg(path: str | os.PathLike[str]) -> tuple[dict[str, Any], str | None] | None:
    """Return ``(snapshot, etag)`` from a valid file, or ``None`` (missing, corrupt: logged)."""
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("promptstage: ignoring last-known-good file %s: %s", target, exc)
        return None
    try:
        envelope = json.loads(text)
    except ValueError as exc:
        log.warning("promptstage: ignoring last-known-good file %s: not JSON (%s)", target, exc)
        return None
    return _unwrap(envelope, f"last-known-good file {target}")


def load_bootstrap(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the snapshot of a bootstrap dict or file (snapshot or envelope form), or ``None``.

    A bootstrap in envelope form (a copied last-known-good file) must pass its checksum.
    """
    if isinstance(source, Mapping):
        data: Any = dict(source)
        where = "bootstrap dict"
    else:
        where = f"bootstrap file {source}"
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.error("promptstage: cannot read %s: %s", where, exc)
            return None
    if isinstance(data, dict) and "checksum" in data and "snapshot" in data:
        unwrapped = _unwrap(data, where)
        return unwrapped[0] if unwrapped is not None else None
    if not isinstance(data, dict):
        log.error("promptstage: ignoring %s: not a snapshot object", where)
        return None
    return data
