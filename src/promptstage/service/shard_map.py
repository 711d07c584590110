"""``ShardMap``: an immutable mapping whose "copy with one key changed" costs O(one shard).

The cached project state is read without locks while a new one is being made, so a change
must not touch what readers hold. Copying a 100,000-entry dict for every label move is what
made a move cost O(project); a ``ShardMap`` splits its entries over a fixed number of small
dicts by key hash, and :meth:`ShardMap.evolve` copies only the shards a change touches (plus
the tuple of shard references). A persistent map in two levels: no dependency, plain dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Final, Generic, TypeVar

__all__ = ["ShardMap", "ShardMapEvolver"]

K = TypeVar("K")
V = TypeVar("V")

SHARDS: Final = 256
"""Shards per map: at 100,000 entries a change copies about 400 entries and 256 references."""

_MASK: Final = SHARDS - 1


class ShardMap(Mapping[K, V], Generic[K, V]):
    """An immutable mapping; :meth:`evolve` gives a builder of a changed copy."""

    __slots__ = ("_len", "_shards")

    def __init__(self, items: Iterable[tuple[K, V]] = ()) -> None:
        shards: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        for key, value in items:
            shards[hash(key) & _MASK][key] = value
        self._shards: tuple[dict[K, V], ...] = tuple(shards)
        self._len = sum(len(s) for s in shards)

    @classmethod
    def _of(cls, shards: tuple[dict[K, V], ...], length: int) -> ShardMap[K, V]:
        out: ShardMap[K, V] = cls.__new__(cls)
        out._shards, out._len = shards, length
        return out

    def __getitem__(self, key: K) -> V:
        return self._shards[hash(key) & _MASK][key]

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        return self._shards[hash(key) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._shards[hash(key) & _MASK]

    def __iter__(self) -> Iterator[K]:
        for shard in self._shards:
            yield from shard

    def __len__(self) -> int:
        return self._len

    def evolve(self) -> ShardMapEvolver[K, V]:
        """A builder of a changed copy; this map is never modified."""
        return ShardMapEvolver(self)


class ShardMapEvolver(Generic[K, V]):
    """Collects changes to a ``ShardMap``, copying each shard on its first write."""

    __slots__ = ("_copied", "_len", "_shards")

    def __init__(self, base: ShardMap[K, V]) -> None:
        self._shards = list(base._shards)
        self._copied: set[int] = set()
        self._len = len(base)

    def _writable(self, key: K) -> dict[K, V]:
        index = hash(key) & _MASK
        if index not in self._copied:
            self._shards[index] = dict(self._shards[index])
            self._copied.add(index)
        return self._shards[index]

    def get(self, key: K) -> V | None:
        return self._shards[hash(key) & _MASK].get(key)

    def __contains__(self, key: K) -> bool:
        return key in self._shards[hash(key) & _MASK]

    def set(self, key: K, value: V) -> None:
        shard = self._writable(key)
        if key not in shard:
            self._len += 1
        shard[key] = value

    def remove(self, key: K) -> None:
        shard = self._writable(key)
        if key in shard:
            del shard[key]
            self._len -= 1

    def finish(self) -> ShardMap[K, V]:
        """The changed copy (the evolver may not be used afterwards)."""
        return ShardMap._of(tuple(self._shards), self._len)
