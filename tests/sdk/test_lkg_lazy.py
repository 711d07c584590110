"""A cold start from a format-3 last-known-good file decodes a version only when it is used,
and still never serves one that does not verify (issue 16: cold start proportional to use)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.errors import IntegrityError
from promptstage.sdk import Client
from promptstage.sdk.lkg import Packed, read_lkg, write_lkg
from promptstage.sdk.state import build_state

from .helpers import PROJECT, basic_snapshot, refuse, snapshot, var, version


def client_from(path: Path) -> Client:
    return Client(
        "http://promptstage.test",
        PROJECT,
        "ps_test_secret",
        cache_path=path,
        transport=httpx.MockTransport(refuse),
        stream=False,
        init_timeout=0.0,
        poll_interval=3600.0,
        backoff_initial=3600.0,
        backoff_max=3600.0,
    )


def slots(ps: Client, name: str) -> dict[int, str]:
    rec = ps._core.state.store.prompts[name]  # type: ignore[union-attr]
    return {n: slot.__class__.__name__ for n, slot in rec.versions.items()}


def rewrite(path: Path, edit: Any) -> None:
    """Apply ``edit(body, index) -> (body, index)`` to a format-3 file and recompute its
    checksum, as someone who can write the file could: only the versions' digests stand."""
    data = path.read_bytes()
    head_end = data.index(b',"snapshot":')
    head = json.loads(data[:head_end] + b"}")
    start = head_end + len(b',"snapshot":')
    body = data[start : start + head["length"]]
    index = json.loads(data[start + head["length"] + len(b',"index":') : -1])
    body, index = edit(body, index)
    index_bytes = json.dumps(index, separators=(",", ":")).encode()
    h = hashlib.sha256(json.dumps(head["etag"]).encode() + b"\n" + body + b"\n" + index_bytes)
    head |= {"checksum": "sha256:" + h.hexdigest(), "length": len(body)}
    envelope = json.dumps(head, separators=(",", ":")).encode()[:-1]
    path.write_bytes(envelope + b',"snapshot":' + body + b',"index":' + index_bytes + b"}")


def test_a_cold_start_decodes_only_the_versions_it_serves(tmp_path: Path) -> None:
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    ps = client_from(path)
    try:
        assert ps.status().source == "lkg"
        assert slots(ps, "booking.system") == {1: "Packed", 2: "Packed"}
        assert ps.get("router.intent").render(text="hi") == "Route: hi"
        assert slots(ps, "router.intent") == {1: "VersionData"}
        assert slots(ps, "booking.system") == {1: "Packed", 2: "Packed"}
        assert ps.get("booking.system").version == 1
        assert slots(ps, "booking.system") == {1: "VersionData", 2: "Packed"}
    finally:
        ps.close(timeout=0.5)


def test_a_version_that_does_not_verify_is_refused_on_use_and_the_rest_is_served(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    rewrite(path, lambda body, index: (body.replace(b"Route: ", b"Leak!: "), index))
    ps = client_from(path)
    try:
        assert ps.get("booking.system").version == 1
        with pytest.raises(IntegrityError, match=r"router\.intent@1: digest mismatch"):
            ps.get("router.intent")
        with pytest.raises(IntegrityError, match=r"router\.intent@1"):
            ps.get("router.intent")  # refused every time, never served
    finally:
        ps.close(timeout=0.5)


def test_an_index_that_points_at_another_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')

    def swap(body: bytes, index: list[list[Any]]) -> tuple[bytes, list[list[Any]]]:
        spans = {key: (start, end) for key, start, end in index}
        spans["booking.system@1"] = spans["booking.system@2"]  # v1's key, v2's bytes
        return body, [[key, *span] for key, span in spans.items()]

    rewrite(path, swap)
    ps = client_from(path)
    try:
        with pytest.raises(IntegrityError, match=r"booking\.system@1: names booking\.system@2"):
            ps.get("booking.system")
        assert ps.get("router.intent").version == 1
    finally:
        ps.close(timeout=0.5)


def test_a_layout_that_does_not_fit_is_read_as_plain_json_still_checksummed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The index's spans and the head's length and offset only say where things are: when
    # they do not fit, the file is read as any JSON, every version from the snapshot itself,
    # and the checksum (over the snapshot and the index) is still checked.
    path = tmp_path / "lkg.json"
    for bad in ([0, 10**9], [0.0, 5.0], [True, 5]):
        write_lkg(path, basic_snapshot(), '"1"')
        rewrite(path, lambda body, index, bad=bad: (body, [[index[0][0], *bad], *index[1:]]))
        assert read_lkg(path, packed=True) == (basic_snapshot(), '"1"')
    write_lkg(path, basic_snapshot(), '"1"')
    path.write_bytes(re.sub(rb'"length":\d+', b'"length":12', path.read_bytes()))
    assert read_lkg(path, packed=True) == (basic_snapshot(), '"1"')
    assert caplog.text == ""
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"prod":1', b'"prod":2', 1))  # a label edited
    assert read_lkg(path, packed=True) is None and "checksum mismatch" in caplog.text


def test_a_state_still_packed_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')
    ps = client_from(path)
    try:
        ps.get("router.intent")  # one version decoded, two still packed
        state = ps._core.state
        assert state is not None
        again = tmp_path / "again.json"
        write_lkg(again, state.to_snapshot(packed=True), state.etag)
        assert again.read_bytes() == path.read_bytes()
        assert state.to_snapshot() == basic_snapshot()
    finally:
        ps.close(timeout=0.5)


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    contents=st.lists(texts, min_size=1, max_size=4),
    message=texts,
    etag=st.one_of(st.none(), texts),
)
def test_packed_reads_equal_a_plain_json_decode(
    tmp_path_factory: pytest.TempPathFactory, contents: list[str], message: str, etag: str | None
) -> None:
    versions = [
        version("p.q", n, [{"role": "system", "content": text + " {{ x }}"}], variables=[var("x")])
        | {"message": message}
        for n, text in enumerate(contents, start=1)
    ]
    snap = snapshot(versions, {"p.q": {"prod": 1, "latest": len(contents)}})
    path = tmp_path_factory.mktemp("lkg") / "lkg.json"
    assert write_lkg(path, snap, etag)
    found = read_lkg(path, packed=True)
    assert found is not None and found[1] == etag
    packed = found[0]["versions"]
    assert all(value.__class__ is Packed for value in packed.values())
    assert {key: value.decode() for key, value in packed.items()} == snap["versions"]
    assert json.loads(path.read_bytes())["snapshot"] == snap


def test_spans_that_are_not_json_refuse_their_version_or_the_whole_decoded_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "lkg.json"
    write_lkg(path, basic_snapshot(), '"1"')

    def cut(body: bytes, index: list[list[Any]]) -> tuple[bytes, list[list[Any]]]:
        key, start, _ = next(entry for entry in index if entry[0] == "router.intent@1")
        return body, [entry if entry[0] != key else [key, start, start + 5] for entry in index]

    rewrite(path, cut)
    assert read_lkg(path) is None and "ignoring last-known-good file" in caplog.text
    ps = client_from(path)
    try:
        assert ps.get("booking.system").version == 1
        with pytest.raises(IntegrityError, match=r"router\.intent@1: is not JSON"):
            ps.get("router.intent")
    finally:
        ps.close(timeout=0.5)


@pytest.mark.parametrize("prompts", [0, 1, 50])
def test_a_state_is_handed_over_encoded_and_written_to_the_same_bytes(
    tmp_path: Path, prompts: int
) -> None:
    # At 100,000 prompts, the dicts a write used to build per prompt and version set off full
    # garbage collections of the whole state (0.2-0.5 s each, the GIL held, events waiting):
    # a state hands them over as bytes, and the file holds the same bytes as before.
    names = [f"p{i:03d}.q" for i in range(prompts)]
    versions = [version(n, 1, f"t {{{{ x }}}} {n}", variables=[var("x")]) for n in names]
    snap = snapshot(versions, {n: {"prod": 1, "latest": 1} for n in names})
    state = build_state(snap, PROJECT, source="server", etag='"9"')
    handed = state.to_snapshot(packed=True)
    assert all(type(v) is bytes for v in handed["prompts"].values())
    assert all(type(v) is bytes for v in handed["versions"].values())

    plain, packed = tmp_path / "plain.json", tmp_path / "packed.json"
    assert write_lkg(plain, snap, '"9"') and write_lkg(packed, handed, '"9"')
    assert packed.read_bytes() == plain.read_bytes()
    ordered = {k: v for k, v in snap.items() if k != "versions"} | {"versions": snap["versions"]}
    compact = json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()
    assert b',"snapshot":' + compact + b',"index":' in packed.read_bytes()
    assert read_lkg(packed) == (snap, '"9"')
