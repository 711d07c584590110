"""The per-prompt state moved forward by events equals a state built from scratch (issue 16).

A small model of a project (what the server holds) takes random operations; each yields the
stream event the server sends. One state applies the events one by one (entries read between
events, as a serving client does); at the end it must resolve every prompt, label, unit and
context exactly as a state built from the model's snapshot, and write the same snapshot.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from promptstage.rollout.resolve import resolve
from promptstage.sdk.events import apply_event
from promptstage.sdk.state import State, build_state

from .helpers import PROJECT, var, version

NAMES = ("a.system", "b.system", "c.system")
LABELS = ("prod", "staging")
UNITS = (None, "", "u1", "u2", "u3", "user-42", "user-7")
CONTEXTS = (None, {}, {"channel": "sms"}, {"channel": "web"}, {"channel": "sms", "tier": 2})
TARGETING = {"combinator": "and", "rules": [{"field": "channel", "operator": "=", "value": "sms"}]}


class Model:
    """What the server holds: prompts, labels, versions, active releases; emits events."""

    def __init__(self) -> None:
        self.prompts: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, dict[int, dict[str, Any]]] = {}
        self.releases: dict[tuple[str, str], dict[str, Any]] = {}
        self.seq = 1
        self.release_count = 0

    def _version(self, name: str, number: int) -> dict[str, Any]:
        return version(
            name,
            number,
            [{"role": "system", "content": f"{name} v{number} {{{{ x }}}}"}],
            variables=[var("x")],
        )

    def snapshot(self) -> dict[str, Any]:
        versions: dict[str, Any] = {}
        for name, p in self.prompts.items():
            needed = set(p["labels"].values())
            for (rp, _), r in self.releases.items():
                if rp == name:
                    needed |= {r["baseline_version"], r["candidate_version"]}
            for n in needed:
                versions[f"{name}@{n}"] = copy.deepcopy(self.versions[name][n])
        return {
            "format": 1,
            "project": PROJECT,
            "seq": self.seq,
            "prompts": copy.deepcopy(self.prompts),
            "versions": versions,
            "releases": [copy.deepcopy(r) for r in self.releases.values()],
        }

    def step(self, op: tuple[Any, ...]) -> tuple[str, dict[str, Any]] | None:
        """Apply one operation; return its event (type, data), or None if it does not apply."""
        kind, name = op[0], op[1]
        p = self.prompts.get(name)
        if kind == "create":
            if p is not None:
                return None
            self.prompts[name] = {"type": "chat", "labels": {}}
            self.versions.setdefault(name, {})
            return "prompt.created", {"prompt": name, "type": "chat"}
        if p is None:
            return None
        label = op[2]
        if kind == "version":
            number = max(self.versions[name], default=0) + 1
            raw = self._version(name, number)
            self.versions[name][number] = raw
            p["labels"]["latest"] = number
            return "version.created", {"prompt": name, "version": copy.deepcopy(raw)}
        if kind == "move":
            held = sorted(self.versions[name])
            if not held:
                return None
            number = held[op[3] % len(held)]
            self.releases.pop((name, label), None)  # a move ends the label's release
            previous = p["labels"].get(label)
            p["labels"][label] = number
            data = {"prompt": name, "label": label, "version": number, "previous": previous}
            return "label.moved", data | {
                "version_data": copy.deepcopy(self.versions[name][number])
            }
        if kind == "delete":
            if label not in p["labels"] or label == "latest":
                return None
            del p["labels"][label]
            self.releases.pop((name, label), None)
            return "label.deleted", {"prompt": name, "label": label}
        if kind == "release":
            base = p["labels"].get(label)
            held = sorted(self.versions[name])
            if base is None or len(held) < 2 or (name, label) in self.releases:
                return None
            candidate = next(n for n in reversed(held) if n != base)
            self.release_count += 1
            release = {
                "id": f"rel_{self.release_count}", "prompt": name, "label": label,
                "baseline_version": base, "candidate_version": candidate,
                "weight_bps": op[3] * 1000, "salt": f"salt{self.release_count}",
                "hash_version": 1, "state": "running",
                "targeting": TARGETING if op[3] % 2 else None,
            }  # fmt: skip
            self.releases[(name, label)] = release
            carried = {
                f"{name}@{n}": copy.deepcopy(self.versions[name][n]) for n in (base, candidate)
            }
            return "release.changed", {"release": copy.deepcopy(release) | {"versions": carried}}
        if kind == "ramp":
            release = self.releases.get((name, label))
            if release is None:
                return None
            release["weight_bps"] = op[3] * 1000
            release["state"] = "paused" if op[3] % 3 == 0 else "running"
            return "release.changed", {"release": copy.deepcopy(release)}
        if kind == "end":
            release = self.releases.pop((name, label), None)
            if release is None:
                return None
            # (A promotion's label move is its own label.moved event: the "move" operation.)
            ended = copy.deepcopy(release) | {"state": "completed" if op[3] % 2 else "rolled_back"}
            return "release.changed", {"release": ended}
        assert kind == "archive"
        del self.prompts[name]
        self.releases = {k: r for k, r in self.releases.items() if k[0] != name}
        return "prompt.archived", {"prompt": name}


def resolutions(state: State) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """What ``get`` answers (it reads ``store.entries``, building a missing entry)."""
    out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for name, label in sorted(set(state.entries) | set(state.store.entries)):
        entry = state.store.entries.get((name, label)) or state.entry(name, label)
        if entry is None:
            out[(name, label)] = ("not found",)
            continue
        for i, unit in enumerate(UNITS):
            for j, context in enumerate(CONTEXTS):
                res = resolve(entry.version, entry.release, unit, context)
                served = entry.base if entry.release is None else entry.arm_prompt(res)
                out[(name, label, i, j)] = (
                    res.version, res.arm, res.release_id, res.unitless,
                    served.version, served.digest, served.arm, served.release_id,
                )  # fmt: skip
    return out


OPS = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES)),
    st.tuples(st.just("version"), st.sampled_from(NAMES), st.just("latest")),
    st.tuples(st.just("move"), st.sampled_from(NAMES), st.sampled_from(LABELS), st.integers(0, 9)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.sampled_from(LABELS)),
    st.tuples(
        st.sampled_from(["release", "ramp", "end"]),
        st.sampled_from(NAMES),
        st.sampled_from(LABELS),
        st.integers(0, 10),
    ),
    st.tuples(st.just("archive"), st.sampled_from(NAMES), st.just("prod")),
)


@settings(max_examples=150, deadline=None)
@given(
    setup=st.lists(OPS, max_size=12),
    ops=st.lists(OPS, min_size=1, max_size=30),
    reads=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_events_applied_one_by_one_equal_a_build_from_scratch(setup, ops, reads):
    model = Model()
    for op in setup:  # the project as the client first sees it
        model.step(op)
    state = build_state(model.snapshot(), PROJECT, source="server", etag=f'"{model.seq}"')
    for op, read in zip(ops, reads, strict=False):
        event = model.step(op)
        if event is None:
            continue
        model.seq += 1
        new, _ = apply_event(state, event[0], event[1], model.seq)
        assert new is not None, event
        state = new
        if read:  # a serving client reads entries between events (built on first use)
            for key in list(state.entries):
                assert state.entries[key].version == state.prompts[key[0]]["labels"][key[1]]
    scratch = build_state(model.snapshot(), PROJECT, source="server", etag=f'"{model.seq}"')
    assert state.seq == scratch.seq and state.etag == scratch.etag
    assert resolutions(state) == resolutions(scratch)

    def norm(snap: dict[str, Any]) -> dict[str, Any]:
        return snap | {
            "releases": sorted(snap["releases"], key=lambda r: (r["prompt"], r["label"]))
        }

    assert norm(state.to_snapshot()) == norm(scratch.to_snapshot())
