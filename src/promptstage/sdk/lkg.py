"""The last-known-good file and bootstrap snapshots (file I/O only, no network).

The file (format 3) is an envelope around a snapshot, with an index of its versions::

    {"format":3,"checksum":"sha256:<hex>","etag":"\\"42\\"","versions_at":N,"length":L,
     "snapshot":{...,"versions":{"name@1":{...},...}},"index":[["name@1",start,end],...]}

The snapshot is written as compact JSON with ``versions`` last; ``versions_at`` is the offset
of ``"versions"`` in its ``L`` bytes and the index gives each version's byte span there. A cold
start reads the file, hashes it, decodes everything but the versions, and keeps each version as
its bytes (:class:`Packed`) until it is first used: at 100,000 prompts that is most of the
file left undecoded (docs/sdk.md, "State at scale"). ``checksum`` covers
``<etag as JSON>\\n<snapshot bytes>\\n<index bytes>``, the bytes exactly as written, so a
truncated, edited or half-written file is detected and ignored (with a logged warning) instead of
served; each version's digest is still verified when it is first used. Files of format 2 (no
index; the checksum of ``<etag>\\n<snapshot>``) and 1 (the checksum of the canonical JSON of
``{"etag", "snapshot"}``) are still read. Writes go to a temporary file in the same directory,
are flushed to disk and renamed over the old file (``os.replace``), so a crash leaves either the
old or the new file, never a mix.

Several processes of a host that serve one project write the same file (the default path is
per project and server). One write per state is enough: a writer holds ``<file>.lock`` (an
advisory ``flock``, :func:`writer_lock`) and skips a state the file already holds
(:func:`holds`); a process that finds the lock taken writes later, if still needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from promptstage.domain.canonical import canonical_json

try:
    import fcntl
except ImportError:  # Windows: no advisory lock, every process writes
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LKG_FORMAT",
    "Packed",
    "checksum",
    "encoded",
    "holds",
    "load_bootstrap",
    "read_lkg",
    "try_write_lkg",
    "write_lkg",
    "writer_lock",
]

log = logging.getLogger("promptstage")

LKG_FORMAT: Final = 3
_MARK = b',"snapshot":'
_INDEX = b',"index":'
_HEAD2 = b'{"format":2,'
_HEAD3 = b'{"format":3,'
_JSON_STR = rb'"(?:[^"\\]|\\.)*"'
# The first fields of a snapshot as try_write_lkg writes it (read by holds() without decoding).
_SNAPSHOT_HEAD = re.compile(
    rb'\{"format":\d+,"project":(?P<project>' + _JSON_STR + rb'),"seq":(?P<seq>\d+),'
)


class Packed:
    """One version of a last-known-good file, still as its JSON bytes (a span of the file's
    bytes, which it keeps alive): decoded when it is first used, then verified as any other."""

    __slots__ = ("data", "end", "start")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data, self.start, self.end = data, start, end

    def decode(self) -> Any:
        """The version's wire form; raises ValueError when the span is not JSON."""
        return json.loads(self.data[self.start : self.end])

    def text(self) -> bytes:
        """The version's JSON bytes, as the file holds them."""
        return self.data[self.start : self.end]


def _compact(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _digest(etag: str | None, body: bytes) -> str:
    h = hashlib.sha256(json.dumps(etag).encode())
    h.update(b"\n")
    h.update(body)
    return "sha256:" + h.hexdigest()


def _digest3(
    etag: str | None, body: Iterable[bytes | memoryview], index: Iterable[bytes | memoryview]
) -> str:
    """The format-3 checksum of the body's and the index's bytes, each given in parts."""
    h = hashlib.sha256(json.dumps(etag).encode())
    h.update(b"\n")
    for part in body:
        h.update(part)
    h.update(b"\n")
    for part in index:
        h.update(part)
    return "sha256:" + h.hexdigest()


def checksum(snapshot: Mapping[str, Any], etag: str | None) -> str:
    """The format-2 checksum: ``sha256:<hex>`` of ``<etag JSON>\\n<snapshot compact JSON>``."""
    return _digest(etag, _compact(snapshot))


def encoded(value: Any) -> bytes:
    """``value`` as the file holds it: compact JSON, or ``value`` itself when it is already
    bytes (a state hands its parts over encoded: ``State.to_snapshot(packed=True)``)."""
    return value if value.__class__ is bytes else _compact(value)


def _encode(snapshot: Mapping[str, Any]) -> tuple[list[bytes], int, list[bytes]]:
    """The snapshot's bytes (compact JSON, ``versions`` last) in parts, the offset of
    ``"versions"`` in them, and the index of each version's span, in parts. Joined, equal to
    ``_compact`` of the same snapshot with its keys in that order; a :class:`Packed` version is
    written as the bytes it holds, a value already encoded (bytes) as is.

    Only bytes are kept along the way, no container per prompt or version: at 100,000 prompts
    the containers a write used to build set off several full garbage collections of the
    whole state, each holding the GIL for 0.2-0.5 s while events waited (issue 16).
    """
    parts = [b"{"]
    for key, value in snapshot.items():
        if key == "versions":
            continue
        parts.append((b"," if len(parts) > 1 else b"") + _compact(key) + b":")
        if isinstance(value, dict):  # the prompt map: one part per prompt
            parts.append(b"{")
            for i, (name, item) in enumerate(value.items()):
                parts.append((b"," if i else b"") + _compact(name) + b":" + encoded(item))
            parts.append(b"}")
        else:
            parts.append(_compact(value))
    parts.append(b"," if len(parts) > 1 else b"")
    versions_at = sum(map(len, parts))
    parts.append(b'"versions":{')
    at = versions_at + len(parts[-1])
    index = [b"["]
    for i, (key, value) in enumerate((snapshot.get("versions") or {}).items()):
        comma = b"," if i else b""
        name = _compact(key)
        text = value.text() if value.__class__ is Packed else encoded(value)
        start = at + len(comma) + len(name) + 1
        index.append(b"%s[%s,%d,%d]" % (comma, name, start, start + len(text)))
        parts += (comma + name + b":", text)
        at = start + len(text)
    parts.append(b"}}")
    index.append(b"]")
    return parts, versions_at, index


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
        body, versions_at, index = _encode(snapshot)
        head = (
            _HEAD3
            + f'"checksum":"{_digest3(etag, body, index)}","etag":{json.dumps(etag)},'
            f'"versions_at":{versions_at},"length":{sum(map(len, body))}'.encode()
        )
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(head + _MARK)
            fh.writelines(body)  # in parts: no copy of the whole file in memory
            fh.write(_INDEX)
            fh.writelines(index)
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


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike[str]) -> Iterator[bool]:
    """Hold the file's writer lock, ``<file>.lock`` (an advisory ``flock``), while writing it.

    Yields ``False`` when another process holds it (it is writing the same file: try later);
    ``True`` otherwise, also where no lock can be taken (no ``fcntl``, or the directory cannot
    be made: the write then says why).
    """
    target = Path(path)
    if fcntl is None:
        yield True
        return
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(f"{target}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def holds(path: str | os.PathLike[str], project: str, seq: int, etag: str | None) -> bool:
    """True when the file at ``path`` already holds the state ``(project, seq, etag)`` and hashes
    to its checksum: another process of the host wrote it, and nothing has damaged it since.
    Its bytes are hashed, not decoded (a fraction of a write's cost); a cold start still
    verifies each version's digest before serving it."""
    if etag is None:
        return False
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    checked = _checked3(data) if data.startswith(_HEAD3) else None
    if checked is None or checked[0].get("etag") != etag:
        return False
    m = _SNAPSHOT_HEAD.match(data, checked[1])
    try:
        return m is not None and json.loads(m["project"]) == project and int(m["seq"]) == seq
    except ValueError:
        return False


def _unwrap(envelope: Any, where: str) -> tuple[dict[str, Any], str | None] | None:
    if not isinstance(envelope, dict) or not isinstance(envelope.get("snapshot"), dict):
        log.warning("promptstage: ignoring %s: not a last-known-good envelope", where)
        return None
    snapshot, etag = envelope["snapshot"], envelope.get("etag")
    if etag is not None and not isinstance(etag, str):
        etag = None
    try:
        fmt = envelope.get("format", 1)
        if fmt == 1:
            actual = _checksum_v1(snapshot, etag)
        elif fmt == 2:
            actual = checksum(snapshot, etag)
        else:
            actual = _digest3(etag, (_compact(snapshot),), (_compact(envelope.get("index")),))
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


def read_lkg(
    path: str | os.PathLike[str], *, packed: bool = False
) -> tuple[dict[str, Any], str | None] | None:
    """Return ``(snapshot, etag)`` from a valid file, or ``None`` (missing, corrupt: logged).

    With ``packed``, the versions of a format-3 file are :class:`Packed` (decoded when used);
    else every version is decoded here.
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("promptstage: ignoring last-known-good file %s: %s", target, exc)
        return None
    if data.startswith(_HEAD3):
        fast = _read_indexed(data)
        if not isinstance(fast, bool):
            if not packed:
                versions = fast[0]["versions"]
                try:
                    for key, value in versions.items():
                        versions[key] = value.decode()
                except ValueError as exc:  # spans the checksum covers but that are not JSON
                    log.warning("promptstage: ignoring last-known-good file %s: %s", target, exc)
                    return None
            return fast
    elif data.startswith(_HEAD2):
        fast = _read_fast(data)
        if not isinstance(fast, bool):
            return fast
    try:
        envelope = json.loads(data)
    except ValueError as exc:
        log.warning("promptstage: ignoring last-known-good file %s: not JSON (%s)", target, exc)
        return None
    return _unwrap(envelope, f"last-known-good file {target}")


def _checked3(data: bytes) -> tuple[dict[str, Any], int, bytes] | None:
    """A format-3 file laid out as :func:`try_write_lkg` writes it and hashing to its checksum:
    its head, where its snapshot starts, and its index's bytes; else ``None``."""
    at = data.find(_MARK)
    if at < 0:
        return None
    try:
        head = json.loads(data[:at] + b"}")
        etag, versions_at, length = head.get("etag"), head["versions_at"], head["length"]
        start = at + len(_MARK)
        end = start + length
        tail = data.rstrip()
        if (
            not isinstance(etag, str | None)
            or not 0 < versions_at < length
            or data[end : end + len(_INDEX)] != _INDEX
            or not tail.endswith(b"}")
        ):
            return None
        index_bytes = tail[end + len(_INDEX) : -1]
        body = memoryview(data)[start:end]
        if head.get("checksum") != _digest3(etag, (body,), (index_bytes,)):
            return None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return head, start, index_bytes


def _read_indexed(data: bytes) -> tuple[dict[str, Any], str | None] | bool:
    """A format-3 file as :func:`try_write_lkg` writes it: hash its bytes (:func:`_checked3`),
    decode all but the versions, and keep each version as a :class:`Packed` span of ``data``.

    Returns ``False`` when the file is not laid out that way or does not hash to its checksum
    (then it is read as any JSON, and the warning says what does not match).
    """
    checked = _checked3(data)
    if checked is None:
        return False
    head, start, index_bytes = checked
    length = head["length"]
    try:
        snapshot = json.loads(data[start : start + head["versions_at"]] + b'"versions":{}}')
        versions = snapshot["versions"]
        for key, first, last in json.loads(index_bytes):
            spans = type(first) is int and type(last) is int and 0 <= first < last <= length
            if not (isinstance(key, str) and spans):
                return False
            versions[key] = Packed(data, start + first, start + last)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    return snapshot, head.get("etag")


def _read_fast(data: bytes) -> tuple[dict[str, Any], str | None] | bool:
    """A format-2 file: hash the snapshot's bytes, decode them once.

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
