"""The per-prompt index behind a client's :class:`~promptstage.sdk.state.State`.

See :mod:`promptstage.sdk.state` for the layout and when versions are verified.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from promptstage.errors import IntegrityError

from .entries import Entry, VersionData, fail, make_entry, version_data
from .lkg import Packed

__all__ = ["EntriesView", "PromptRec", "Refused", "Store", "VersionsView", "raw_of"]

log = logging.getLogger("promptstage")


@dataclass(frozen=True, slots=True)
class Refused:
    """A version whose payload did not verify: kept (for the error), never served."""

    raw: Mapping[str, Any]
    error: IntegrityError


@dataclass(slots=True)
class PromptRec:
    """One prompt: replaced whole by an event, never changed after it is in a store (except a
    version slot moving from its wire form to its verified form)."""

    type: str
    labels: dict[str, int]
    # number -> VersionData; until verified, the wire form (a dict) or its bytes in the
    # last-known-good file (Packed); Refused when it did not verify
    versions: dict[int, Any]
    releases: dict[str, Mapping[str, Any]] | None = None  # label -> the active release's wire form

    def __getitem__(self, key: str) -> Any:
        """``rec["type"]`` and ``rec["labels"]``, as in the snapshot's ``prompts`` object."""
        if key in ("type", "labels"):
            return getattr(self, key)
        raise KeyError(key)


def raw_of(slot: Any) -> Mapping[str, Any]:
    """A version slot's wire form (a Packed one decoded; ``{}`` if its bytes are not JSON)."""
    if isinstance(slot, VersionData | Refused):
        return slot.raw
    if slot.__class__ is Packed:
        try:
            found = slot.decode()
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}
    return slot  # type: ignore[no-any-return]


class Store:
    """The per-prompt index behind one client's states (see the module docstring)."""

    __slots__ = ("entries", "lock", "max_bytes", "prompts", "refused", "share")

    def __init__(
        self,
        prompts: dict[str, PromptRec],
        max_bytes: int,
        share: Callable[[Any], None] | None = None,
    ) -> None:
        self.prompts = prompts
        self.entries: dict[tuple[str, str], Entry] = {}
        self.lock = threading.Lock()
        self.max_bytes = max_bytes
        self.refused: str | None = None  # the first version refused, as its error's message
        # Makes a version decoded from its Packed bytes share equal configs and variable lists
        # with the versions decoded before it (state._Sharer).
        self.share = share

    def verified(
        self, name: str, rec: PromptRec, number: int, required: bool = True
    ) -> VersionData | None:
        """Version ``number`` of ``rec``, verified now if it was not yet (call under the lock).

        Raises:
            IntegrityError: It does not verify (now or before), or it is missing and required.
        """
        slot = rec.versions.get(number)
        if slot is None:
            if not required:
                return None
            raise fail(f"prompts.{name}", f"points at {name}@{number}, not included")
        if slot.__class__ is VersionData:
            return slot
        if slot.__class__ is Refused:
            raise slot.error
        try:
            if slot.__class__ is Packed:
                slot = self._unpack(name, number, slot)
            vd = version_data(f"{name}@{number}", slot, {}, self.max_bytes)
        except IntegrityError as exc:
            rec.versions[number] = Refused(raw_of(slot), exc)
            if self.refused is None:
                self.refused = exc.message
            log.error("promptstage: refusing to serve %s@%s: %s", name, number, exc.message)
            raise
        rec.versions[number] = vd
        return vd

    def _unpack(self, name: str, number: int, packed: Packed) -> Any:
        try:
            raw = packed.decode()
        except ValueError as exc:
            where = f"{name}@{number}"
            raise fail(where, f"is not JSON in the last-known-good file ({exc})") from None
        if self.share is not None:
            self.share(raw)
        return raw

    def verify_all(self) -> str | None:
        """Verify every version not verified yet (one prompt at a time under the lock, so
        ``get`` is never held up long); return the first refusal's message, or ``None``."""
        for name, rec in list(self.prompts.items()):
            with self.lock:
                for number, slot in list(rec.versions.items()):
                    if slot.__class__ is not VersionData and slot.__class__ is not Refused:
                        with contextlib.suppress(IntegrityError):  # recorded as refused
                            self.verified(name, rec, number)
        return self.refused

    def _build(self, name: str, label: str, rec: PromptRec) -> Entry:
        def verified(number: int, required: bool = True) -> VersionData | None:
            return self.verified(name, rec, number, required)

        release = rec.releases.get(label) if rec.releases else None
        return make_entry(name, label, rec.labels[label], verified, release)

    def entry(self, name: str, label: str) -> Entry | None:
        """The entry of ``name``/``label``, built (and its versions verified) on first use;
        ``None`` when there is no such prompt or label.

        Raises:
            IntegrityError: A version it serves does not verify (the error names it).
        """
        found = self.entries.get((name, label))
        if found is not None:
            return found
        with self.lock:
            rec = self.prompts.get(name)
            if rec is None or label not in rec.labels:
                return None
            found = self.entries.get((name, label))
            if found is None:
                found = self._build(name, label, rec)
                self.entries[name, label] = found
            return found

    def _ready(self, rec: PromptRec, label: str) -> bool:
        """True when every version the label's entry needs is verified already."""
        numbers: list[Any] = [rec.labels[label]]
        release = rec.releases.get(label) if rec.releases else None
        if release is not None:
            numbers += [release.get("baseline_version"), release.get("candidate_version")]
        return all(rec.versions.get(n).__class__ is VersionData for n in numbers)

    def put(self, name: str, rec: PromptRec) -> None:
        """Make ``rec`` prompt ``name``'s record, and rebuild that prompt's entries (an entry
        whose label, version and release did not change is kept as it is)."""
        with self.lock:
            old = self.prompts.get(name)
            fresh: dict[tuple[str, str], Entry] = {}
            for label, number in rec.labels.items():
                held = self.entries.get((name, label))
                if (
                    held is not None
                    and old is not None
                    and old.labels.get(label) == number
                    and rec.versions.get(number) is old.versions.get(number)
                    and _release(old, label) is _release(rec, label)
                ):
                    fresh[name, label] = held
                elif self._ready(rec, label):
                    fresh[name, label] = self._build(name, label, rec)
            self.prompts[name] = rec
            self.entries.update(fresh)  # replaced one by one: a reader sees old or new
            for label in (*(old.labels if old is not None else ()), *rec.labels):
                if (name, label) not in fresh:
                    self.entries.pop((name, label), None)

    def drop(self, name: str) -> None:
        """Forget prompt ``name`` (archived)."""
        with self.lock:
            old = self.prompts.pop(name, None)
            for label in old.labels if old is not None else ():
                self.entries.pop((name, label), None)


def _release(rec: PromptRec, label: str) -> Mapping[str, Any] | None:
    return rec.releases.get(label) if rec.releases else None


class EntriesView(Mapping[tuple[str, str], Entry]):
    """Every (prompt, label) of a store, built on access."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getitem__(self, key: tuple[str, str]) -> Entry:
        found = self._store.entry(*key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 2:
            return False
        rec = self._store.prompts.get(key[0])
        return rec is not None and key[1] in rec.labels

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for name, rec in list(self._store.prompts.items()):
            for label in list(rec.labels):
                yield (name, label)

    def __len__(self) -> int:
        return sum(len(rec.labels) for rec in list(self._store.prompts.values()))


class VersionsView(Mapping[str, VersionData]):
    """Every version of a store by key (``name@n``), verified on access."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _find(self, key: object) -> tuple[str, PromptRec, int] | None:
        if not isinstance(key, str):
            return None
        name, _, number = key.rpartition("@")
        rec = self._store.prompts.get(name)
        if rec is None or not number.isdigit() or int(number) not in rec.versions:
            return None
        return name, rec, int(number)

    def __getitem__(self, key: str) -> VersionData:
        found = self._find(key)
        if found is None:
            raise KeyError(key)
        with self._store.lock:
            vd = self._store.verified(*found)
        assert vd is not None
        return vd

    def __contains__(self, key: object) -> bool:
        return self._find(key) is not None

    def __iter__(self) -> Iterator[str]:
        for name, rec in list(self._store.prompts.items()):
            for number in list(rec.versions):
                yield f"{name}@{number}"

    def __len__(self) -> int:
        return sum(len(rec.versions) for rec in list(self._store.prompts.values()))
