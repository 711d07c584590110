"""The last-known-good file and bootstrap snapshots (file I/O only, no network).

The file is an envelope around a snapshot::

    {"format":2,"checksum":"sha256:<hex>","etag":"\\"42\\"","snapshot":{...}}

``checksum`` covers the bytes ``<etag as JSON>\\n<snapshot as compact JSON>``, the snapshot's
bytes exactly as written, so reading a large file hashes it once and decodes it once (no
re-encoding): a truncated, edited or half-written file is detected and ignored (with a logged
warning) instead of served. Files of format 1 (the checksum of the canonical JSON of
``{"etag", "snapshot"}``) are still read. Writes go to a temporary file in the same directory,
are flushed to disk and renamed over the old file (``os.replace``), so a crash leaves either
the old or the new file, never a mix.
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

LKG_FORMAT: Final = 2
_MARK = b',"snapshot":'
_HEAD = b'{"format":2,'


def _compact(snapshot: Mapping[str, Any]) -> bytes:
    return json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _digest(etag: str | None, body: bytes) -> str:
    h = hashlib.sha256(json.dumps(etag).encode())
    h.update(b"\n")
    h.update(body)
    return "sha256:" + h.hexdigest()


def checksum(snapshot: Mapping[str, Any], etag: str | None) -> str:
    """The format-2 checksum: ``sha256:<hex>`` of ``<etag JSON>\\n<snapshot compact JSON>``."""
    return _digest(etag, _compact(snapshot))


def _checksum_v1(snapshot: Mapping[str, Any], etag: str | None) -> str:
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
        body = _compact(snapshot)
        etag_json = json.dumps(etag).encode()
        head = b'{"format":2,"checksum":"' + _digest(etag, body).encode() + b'","etag":'
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(head + etag_json + _MARK)
            fh.write(body)
            fh.write(b"}")
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
        if envelope.get("format", 1) == 1:
            actual = _checksum_v1(snapshot, etag)
        else:
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
        data = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("promptstage: ignoring last-known-good file %s: %s", target, exc)
        return None
    if data.startswith(_HEAD):
        fast = _read_fast(data)
        if not isinstance(fast, bool):
            return fast
    try:
        envelope = json.loads(data)
    except ValueError as exc:
        log.warning("promptstage: ignoring last-known-good file %s: not JSON (%s)", target, exc)
        return None
    return _unwrap(envelope, f"last-known-good file {target}")


def _read_fast(data: bytes) -> tuple[dict[str, Any], str | None] | bool:
    """A file as :func:`try_write_lkg` writes it: hash the snapshot's bytes, decode them once.

    Returns ``False`` when the file is not laid out that way (then it is read as any JSON).
    """
    at = data.find(_MARK)
    end = data.rstrip().rfind(b"}")
    if at < 0 or end <= at:
        return False
    try:
        head = json.loads(data[:at] + b"}")
        etag = head.get("etag")
        body = data[at + len(_MARK) : end]
        if not isinstance(etag, str | None) or head.get("checksum") != _digest(etag, body):
            return False  # read as any JSON: the warning then says what does not match
        snapshot = json.loads(body)
    except (ValueError, AttributeError):
        return False
    if not isinstance(snapshot, dict):
        return False
    return snapshot, etag


def load_bootstrap(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the snapshot of a bootstrap dict or file (snapshot or envelope form), or ``None``.

    A bootstrap in envelope form (a copied last-known-good file) must pass its checksum.
    """
    if isinstance(source, Mapping):
        where = "bootstrap dict"
        try:  # a copy of our own: loading shares equal values by rewriting version objects
            data: Any = json.loads(json.dumps(source))
        except (TypeError, ValueError) as exc:
            log.error("promptstage: ignoring %s: not JSON (%s)", where, exc)
            return None
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
