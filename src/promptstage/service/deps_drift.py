"""Drift at run time: compare what calls report they ran on with their version's pins.

``ingest_calls`` hands each batch to :func:`count_in`, inside its transaction: the version of
every call that reports a model, an index or tools is read once per batch, the mismatches are
counted per (prompt, version, label, kind, observed), and the first mismatch of each kind
becomes a ``deps.drift`` outbox event (webhooks), written by :func:`announce` once the batch
is stored. A mismatch stays unannounced in the store until the transaction that writes its
event claims it, so one whose announcement never ran (the server stopped in between) is
announced by the next :func:`announce_missed` pass (a background job), and never twice. The
release controller asks :func:`canary_drift` before each step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptstage.domain.calls import CallRecord
from promptstage.domain.drift import DriftCount, Mismatch, mismatches
from promptstage.domain.events import EventType
from promptstage.domain.models import iso_utc
from promptstage.domain.releases import Release
from promptstage.store.base import UnitOfWork

from .context import Context, change
from .prompts import require_project, require_prompt, require_version

DRIFT_ACTOR = "system:drift"


@dataclass(frozen=True, slots=True)
class NewDrift:
    """A (prompt, version, label, kind, observed) seen for the first time."""

    prompt: str
    version: int
    label: str
    mismatch: Mismatch
    at: datetime


def count_in(uow: UnitOfWork, project: str, records: list[CallRecord]) -> list[NewDrift]:
    """Count the mismatches of ``records``; the ones never seen before are returned."""
    configs: dict[tuple[str, int], dict[str, Any] | None] = {}
    counts: Counter[tuple[str, int, str, Mismatch]] = Counter()
    last: dict[tuple[str, int, str, Mismatch], datetime] = {}
    for c in records:
        if c.model is None and c.index is None and not c.tools:
            continue
        key = (c.prompt, c.version)
        if key not in configs:
            found = uow.get_version(project, c.prompt, c.version)
            configs[key] = found.config if found is not None else None
        config = configs[key]
        if config is None:
            continue
        for m in mismatches(config, c.model, c.index, list(c.tools) if c.tools else None):
            k = (c.prompt, c.version, c.label, m)
            counts[k] += 1
            last[k] = max(last.get(k, c.at), c.at)
    new: list[NewDrift] = []
    for (prompt, version, label, m), n in counts.items():
        at = last[(prompt, version, label, m)]
        if uow.count_drift(project, prompt, version, label, m, at, n):
            new.append(NewDrift(prompt, version, label, m, at))
    return new


def announce(ctx: Context, project: str, new: list[NewDrift]) -> int:
    """One ``deps.drift`` outbox event per new mismatch (webhooks send them), each written in
    the transaction that claims the mismatch, so it is written once whoever announces it (the
    batch that found it, or :func:`announce_missed` after a stop); how many were written."""
    if not new:
        return 0
    written = 0
    with change(ctx, project, DRIFT_ACTOR) as ch:
        for d in new:
            if not ch.uow.claim_drift(project, d.prompt, d.version, d.label, d.mismatch, ch.at):
                continue
            data = {
                "prompt": d.prompt,
                "version": d.version,
                "label": d.label,
                "kind": d.mismatch.kind,
                "expected": d.mismatch.expected,
                "observed": d.mismatch.observed,
                "at": iso_utc(d.at),
            }
            ch.events.append(ch.uow.append_event(project, EventType.DEPS_DRIFT, data, ch.at))
            written += 1
    return written


MISSED_BATCH = 500
"""Mismatches one :func:`announce_missed` pass reads at a time."""


def announce_missed(ctx: Context) -> int:
    """Announce the mismatches stored without their event (a server stopped between storing a
    batch and announcing it); every replica may run it. Returns how many it announced."""
    written = 0
    while True:
        with ctx.store.unit_of_work() as uow:
            left = uow.unannounced_drift(MISSED_BATCH)
        by_project: dict[str, list[NewDrift]] = {}
        for d in left:
            mismatch = Mismatch(d.kind, d.expected, d.observed)
            seen = NewDrift(d.prompt, d.version, d.label, mismatch, d.first_at)
            by_project.setdefault(d.project, []).append(seen)
        for project, new in by_project.items():
            written += announce(ctx, project, new)
        if len(left) < MISSED_BATCH:
            return written


def drift_json(d: DriftCount) -> dict[str, Any]:
    return {
        "prompt": d.prompt,
        "version": d.version,
        "label": d.label,
        "kind": d.kind,
        "expected": d.expected,
        "observed": d.observed,
        "count": d.count,
        "first_at": iso_utc(d.first_at),
        "last_at": iso_utc(d.last_at),
    }


def version_drift(ctx: Context, project: str, prompt: str, number: int) -> list[DriftCount]:
    """The drift counted on one version, per label."""
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        require_version(uow, project, prompt, number)
        return uow.list_drift(project, prompt=prompt, version=number)


def project_drift(ctx: Context, project: str, label: str | None = None) -> list[DriftCount]:
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return uow.list_drift(project, label=label)


def canary_drift(uow: UnitOfWork, release: Release) -> list[DriftCount]:
    """Drift seen on the release's candidate under its label since the release started."""
    rows = uow.list_drift(
        release.project, prompt=release.prompt, version=release.candidate_version,
        label=release.label,
    )  # fmt: skip
    return [d for d in rows if d.last_at >= release.created_at]


def canary_drift_reason(rows: list[DriftCount]) -> str:
    """The hold/rollback reason: what the canary ran on that it was not tested with."""
    worst = max(rows, key=lambda d: d.count)
    what = {
        "model": "an untested model",
        "index": "an untested index",
        "tool": "an undeclared tool",
    }
    return (
        f"the canary runs on {what.get(worst.kind, worst.kind)}: pinned {worst.expected}, "
        f"observed {worst.observed} in {worst.count} call(s)"
        + (f" (and {len(rows) - 1} other mismatch(es))" if len(rows) > 1 else "")
    )
