"""The last-known-good file and bootstrap snapshots."""

from __future__ import annotations

import json
import os

from promptstage.sdk.lkg import checksum, load_bootstrap, read_lkg, write_lkg

from .helpers import basic_snapshot


def test_write_then_read_round_trips(tmp_path):
    path = tmp_path / "cache" / "clinic.json"
    assert write_lkg(path, basic_snapshot(), '"1"')
    assert read_lkg(path) == (basic_snapshot(), '"1"')
    assert [p.name for p in path.parent.iterdir()] == ["clinic.json"]  # no temp file left
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_missing_file_is_silent(tmp_path, caplog):
    assert read_lkg(tmp_path / "none.json") is None
    assert caplog.text == ""


def test_edited_file_is_ignored_with_a_warning(tmp_path, caplog):
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), None)
    envelope = json.loads(path.read_text())
    envelope["snapshot"]["prompts"]["router.intent"]["labels"]["prod"] = 2
    path.write_text(json.dumps(envelope))
    assert read_lkg(path) is None
    assert "checksum mismatch" in caplog.text


def test_truncated_file_is_ignored_with_a_warning(tmp_path, caplog):
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), None)
    path.write_bytes(path.read_bytes()[:100])
    assert read_lkg(path) is None
    assert "not JSON" in caplog.text


def test_failed_write_keeps_the_old_file(tmp_path, caplog):
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), None)
    assert not write_lkg(path, {"bad": float("nan")}, None)
    assert read_lkg(path) == (basic_snapshot(), None)
    assert "cannot write" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["lkg.json"]


def test_bootstrap_forms(tmp_path):
    snap = basic_snapshot()
    assert load_bootstrap(snap) == snap
    plain = tmp_path / "snapshot.json"
    plain.write_text(json.dumps(snap))
    assert load_bootstrap(plain) == snap
    envelope = tmp_path / "copied-lkg.json"
    write_lkg(envelope, snap, '"1"')
    assert load_bootstrap(str(envelope)) == snap


def test_unreadable_bootstrap_is_logged(tmp_path, caplog):
    assert load_bootstrap(tmp_path / "missing.json") is None
    assert "cannot read bootstrap file" in caplog.text


def test_bytes_edited_in_place_fail_the_checksum(tmp_path, caplog):
    # The file as written is read by hashing the snapshot's bytes; an edit that keeps its
    # layout (same length, still JSON) must still be caught.
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    data = path.read_bytes()
    assert data.startswith(b'{"format":3,') and b"Route: {{ text }}" in data
    path.write_bytes(data.replace(b"Route: {{ text }}", b"Leak!: {{ text }}"))
    assert read_lkg(path) is None
    assert "checksum mismatch" in caplog.text
    write_lkg(path, basic_snapshot(), '"1"')
    assert read_lkg(path) == (basic_snapshot(), '"1"')


def test_format_1_files_are_still_read(tmp_path):
    from promptstage.sdk.lkg import _checksum_v1

    snap = basic_snapshot()
    envelope = {"format": 1, "checksum": _checksum_v1(snap, None), "etag": None, "snapshot": snap}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(envelope))
    assert read_lkg(path) == (snap, None)


def test_format_2_files_are_still_read(tmp_path):
    snap = basic_snapshot()
    body = json.dumps(snap, ensure_ascii=False, separators=(",", ":"))
    path = tmp_path / "v2.json"
    path.write_text(
        f'{{"format":2,"checksum":"{checksum(snap, chr(34) + "1" + chr(34))}",'
        f'"etag":"\\"1\\"","snapshot":{body}}}'
    )
    assert read_lkg(path) == (snap, '"1"')


def test_a_format_3_file_reads_the_same_as_any_json_reader(tmp_path):
    # The envelope is plain JSON: a copied file works as a bootstrap, and a reader that ignores
    # the index gets the same snapshot as the indexed one.
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    envelope = json.loads(path.read_bytes())
    assert envelope["snapshot"] == basic_snapshot() and envelope["format"] == 3
    assert list(envelope["snapshot"])[-1] == "versions"
    assert load_bootstrap(str(path)) == basic_snapshot()
