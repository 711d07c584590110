"""Operator pins: a break-glass that serves a fixed version of a label from configuration.

When the control plane cannot roll a label back (its database is down), an operator pins the
version in the agent instead: ``PROMPTSTAGE_PIN="booking.system:prod=2"`` (comma-separated for
several) or ``Client(..., pins={"booking.system:prod": 2})``. ``get`` then serves that version
with ``arm="pinned"``, whatever the label points at; every call record carries the version and
the ``pinned`` arm, so the server's call log shows the pin once the records reach it. A pinned
version must be one the client holds (a label, ``latest`` or a release arm points at it);
otherwise the label is served as usual and :meth:`Client.status` names the unmet pin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from promptstage.errors import ConfigurationError, IntegrityError

from .state import Entry, State, prompt_for

__all__ = ["PIN_ARM", "PIN_ENV", "PinnedEntries", "apply_pins", "parse_pins"]

PIN_ENV: Final = "PROMPTSTAGE_PIN"
PIN_ARM: Final = "pinned"
_PIN = re.compile(r"^\s*([A-Za-z0-9_.\-]+):([A-Za-z0-9_.\-]+)\s*=\s*([0-9]+)\s*$")


def parse_pins(value: str | Mapping[str, int] | None, field: str = "pins") -> dict[str, int]:
    """``"prompt:label=N, ..."`` or ``{"prompt:label": N}`` as ``{"prompt:label": N}``.

    Raises:
        ConfigurationError: an entry is not ``prompt:label=N`` with ``N >= 1``.
    """
    if value is None:
        return {}
    items: list[tuple[str, object]]
    if isinstance(value, str):
        items = []
        for part in filter(str.strip, value.split(",")):
            m = _PIN.match(part)
            if m is None:
                raise ConfigurationError(
                    f"{field}: {part.strip()!r} is not 'prompt:label=version', "
                    "e.g. 'booking.system:prod=2'",
                    field=field,
                )
            items.append((f"{m[1]}:{m[2]}", int(m[3])))
    else:
        items = list(value.items())
    out: dict[str, int] = {}
    for key, number in items:
        name, sep, label = str(key).partition(":")
        if not (name and sep and label) or isinstance(number, bool) or not isinstance(number, int):
            raise ConfigurationError(
                f"{field}: {key!r}={number!r} is not 'prompt:label' = version number, "
                "e.g. {'booking.system:prod': 2}",
                field=field,
            )
        if number < 1:
            raise ConfigurationError(f"{field}: version of {key!r} must be >= 1", field=field)
        out[f"{name}:{label}"] = number
    return out


class PinnedEntries(dict[tuple[str, str], Entry]):
    """The pinned labels' entries; every other label is read from the state's store."""

    __slots__ = ("_store",)

    def __init__(
        self, pinned: dict[tuple[str, str], Entry], store: Mapping[tuple[str, str], Entry]
    ):
        super().__init__(pinned)
        self._store = store

    def __missing__(self, key: tuple[str, str]) -> Entry:
        return self._store[key]  # KeyError when not built yet: get() then builds it


def apply_pins(
    state: State, pins: Mapping[str, int]
) -> tuple[Mapping[tuple[str, str], Entry], tuple[str, ...]]:
    """The map ``get`` reads: ``state``'s entries, with each pinned label serving its pinned
    version; and the pins that cannot be honoured (the version is not held or does not
    verify), each as a sentence. Its cost is the number of pins, not the size of the state."""
    if not pins:
        return state.store.entries, ()
    pinned: dict[tuple[str, str], Entry] = {}
    unmet: list[str] = []
    versions = state.versions
    for key, number in pins.items():
        name, _, label = key.partition(":")
        try:
            vd = versions.get(f"{name}@{number}")
        except IntegrityError as exc:
            unmet.append(f"pin {key}={number} not applied: {exc.message}")
            continue
        if vd is None:
            unmet.append(
                f"pin {key}={number} not applied: version {number} of {name!r} is not held "
                "(pin a version a label, latest or a release points at)"
            )
            continue
        prompt = prompt_for(name, label, vd, PIN_ARM, None, False)
        pinned[name, label] = Entry(version=number, base=prompt)
    return PinnedEntries(pinned, state.store.entries), tuple(unmet)
