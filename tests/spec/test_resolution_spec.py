"""Run the shared spec cases through ``promptstage.rollout.resolve``.

Also proves the byte-level hash: the pinned buckets are recomputed with ``mmh3`` and with a
pure-Python MurmurHash3 x86_32 written here from the reference algorithm.
"""

from __future__ import annotations

from typing import Any

import pytest

from promptstage.rollout import ActiveRelease, bucket, resolve

from .cases import load_buckets, load_cases

CASES = load_cases()
BUCKETS = load_buckets()


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 (Austin Appleby's reference), unsigned result."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    tail_start = len(data) - len(data) % 4
    for i in range(0, tail_start, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    tail = data[tail_start:]
    if len(tail) >= 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if tail:
        k ^= tail[0]
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def pure_bucket(salt: str, unit: str) -> int:
    return (murmur3_x86_32(f"{salt}:{unit}".encode()) * 10000) >> 32


def test_reference_murmur_vectors() -> None:
    # Published test vectors for MurmurHash3 x86_32.
    assert murmur3_x86_32(b"") == 0
    assert murmur3_x86_32(b"", seed=1) == 0x514E28B7
    assert murmur3_x86_32(b"", seed=0xFFFFFFFF) == 0x81F16F39
    assert murmur3_x86_32(b"\x00\x00\x00\x00") == 0x2362F9DE
    assert murmur3_x86_32(b"Hello, world!", seed=1234) == 0xFAF6CDB3
    assert murmur3_x86_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


def test_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({case["name"] for case in CASES}) == len(CASES), "case names must be unique"


@pytest.mark.parametrize("item", BUCKETS, ids=lambda item: f"{item['salt']!r}:{item['unit']!r}")
def test_pinned_bucket(item: dict[str, Any]) -> None:
    assert bucket(item["salt"], item["unit"]) == item["bucket"]
    assert pure_bucket(item["salt"], item["unit"]) == item["bucket"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["name"])
def test_case(case: dict[str, Any]) -> None:
    release = None if case["release"] is None else ActiveRelease.from_dict(case["release"])
    result = resolve(case["label_version"], release, case["unit"], case["context"])
    assert result.to_dict() == case["expect"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["name"])
def test_case_with_text_context(case: dict[str, Any]) -> None:
    """The server gets context from a query string: the text form of each value must agree."""
    text = {
        key: ("true" if value is True else "false" if value is False else str(value))
        for key, value in case["context"].items()
        if value is not None
    }
    release = None if case["release"] is None else ActiveRelease.from_dict(case["release"])
    assert resolve(case["label_version"], release, case["unit"], text).to_dict() == case["expect"]
