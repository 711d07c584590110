"""Processes of one host that serve a project write its last-known-good file once per state:
a writer holds ``<file>.lock`` and skips a state the file already holds (issue 16: at 100,000
prompts each write costs seconds of CPU, and 8 processes used to write the same file 8 times)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptstage.errors import IntegrityError
from promptstage.sdk.core import SyncCore
from promptstage.sdk.lkg import holds, read_lkg, try_write_lkg, write_lkg
from promptstage.sdk.options import Options
from promptstage.sdk.state import build_state

from .helpers import PROJECT, basic_snapshot, moved_snapshot

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

URL = "http://promptstage.test"


def core_holding(path: Path, snapshot: dict, etag: str | None) -> SyncCore:
    core = SyncCore(Options(URL, PROJECT, "k", cache_path=path))
    core.install(build_state(snapshot, PROJECT, source="server", etag=etag))
    return core


def test_holds_reads_the_state_from_the_files_head(tmp_path):
    path = tmp_path / "lkg.json"
    assert not holds(path, PROJECT, 1, '"1"')  # no file
    assert try_write_lkg(path, basic_snapshot(1), '"1"') is None
    assert holds(path, PROJECT, 1, '"1"')
    assert not holds(path, PROJECT, 2, '"1"')
    assert not holds(path, PROJECT, 1, '"2"')
    assert not holds(path, "other", 1, '"1"')
    assert not holds(path, PROJECT, 1, None)  # a state without an ETag is always written

    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated: rewritten, never trusted
    assert not holds(path, PROJECT, 1, '"1"')
    path.write_text(json.dumps({"format": 1, "etag": '"1"', "snapshot": basic_snapshot(1)}))
    assert not holds(path, PROJECT, 1, '"1"')  # an older format: rewritten as format 3
    write_lkg(path, basic_snapshot(1), 'quote " and \\ backslash')
    assert holds(path, PROJECT, 1, 'quote " and \\ backslash')


def test_a_state_the_file_already_holds_is_not_written_again(tmp_path):
    path = tmp_path / "lkg.json"
    first = core_holding(path, basic_snapshot(1), '"1"')
    first.write_lkg(0.0)
    written = path.stat()

    other = core_holding(path, basic_snapshot(1), '"1"')  # another process, the same state
    other.write_lkg(0.0)
    assert path.stat().st_ino == written.st_ino  # not replaced
    assert not other.lkg_dirty and other.cache_warning is None

    newer = core_holding(path, moved_snapshot(2), '"2"')
    newer.write_lkg(0.0)
    assert path.stat().st_ino != written.st_ino
    found = read_lkg(path)
    assert found is not None and found[0]["seq"] == 2 and found[1] == '"2"'


HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_file_another_process_is_writing_is_left_to_it_and_written_later(tmp_path):
    path = tmp_path / "lkg.json"
    core = core_holding(path, basic_snapshot(1), '"1"')
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, f"{path}.lock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:  # another process, in the middle of writing the file
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        core.write_lkg(0.0)
        assert not path.exists()
        assert core.lkg_dirty  # still to be written
        assert not core.lkg_due(0.5) and core.lkg_due(1.0)  # looked at again when next due
        assert holder.stdin is not None
        holder.stdin.close()  # it finishes and lets go of the lock
    core.write_lkg(1.0)
    assert not core.lkg_dirty and read_lkg(path) is not None
    assert oct(os.stat(f"{path}.lock").st_mode & 0o777) == "0o600"


def test_a_damaged_file_at_the_same_state_is_rewritten(tmp_path):
    path = tmp_path / "lkg.json"
    core_holding(path, basic_snapshot(1), '"1"').write_lkg(0.0)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"Route:", b"Hacked", 1))  # the head still names the state
    assert not holds(path, PROJECT, 1, '"1"')  # its bytes no longer hash to its checksum
    core_holding(path, basic_snapshot(1), '"1"').write_lkg(0.0)
    assert path.read_bytes() == data


def test_a_file_whose_version_was_refused_is_rewritten_even_at_the_same_state(tmp_path):
    # Edited with its checksum recomputed: it verifies as a file, and its edited version is
    # refused on use (its digest). The server's state, the same sequence, replaces it on disk.
    path = tmp_path / "lkg.json"
    tampered = copy.deepcopy(basic_snapshot(1))
    tampered["versions"]["router.intent@1"]["template"] = "Hacked {{ text }}"  # digest kept
    assert write_lkg(path, tampered, '"1"')
    assert holds(path, PROJECT, 1, '"1"')
    core = SyncCore(Options(URL, PROJECT, "k", cache_path=path))
    found = read_lkg(path, packed=True)
    assert found is not None
    core.adopt(build_state(found[0], PROJECT, source="lkg", etag=found[1]))
    assert core.state is not None
    with pytest.raises(IntegrityError):
        core.state.entry("router.intent", "prod")
    core.install(build_state(basic_snapshot(1), PROJECT, source="server", etag='"1"'))
    core.write_lkg(0.0)
    assert b"Hacked" not in path.read_bytes() and read_lkg(path) == (basic_snapshot(1), '"1"')
