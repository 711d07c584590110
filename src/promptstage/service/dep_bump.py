"""``deps bump``: a new version of each affected prompt with one dependency changed, and the
model deprecations ahead.

A bump writes through ``prompts.write_checked`` like any other version (static checks, audit,
``version.created``); the evaluation gate applies when a label is moved to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from promptstage.domain import names
from promptstage.domain.deps import CatalogEntry, DepKind, DepRef, replace_dep

from .context import Context
from .deps import Impact, LabelUse, VersionUse, impact_in, label_use_json, require_entry
from .prompts import require_project, write_checked


@dataclass(frozen=True, slots=True)
class Bumped:
    """One prompt bumped: ``version`` was written from ``base`` (``created`` is ``False`` when
    that content existed already)."""

    prompt: str
    base: int
    version: int
    previous: str | None
    created: bool


def bump(
    ctx: Context, actor: str, project: str, target: DepRef, label: str | None = None
) -> list[Bumped]:
    """Write a version of each prompt whose ``label`` (default: latest version) pins another
    version of ``target``'s dependency, with only that dependency set to ``target``.

    Raises:
        NotFoundError: the project or ``target`` does not exist.
        InvalidInputError: a label name is invalid, or a written version is (nothing after it
            is written; the versions before it stay).
    """
    if label is not None:
        names.label_name(label)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        entry = require_entry(uow, project, target)
        found = impact_in(uow, project, DepRef(target.kind, target.name))
        latest = {p.name: p.latest_version for p in _prompts(uow, project, found)}
        bases: list[tuple[str, int, str | None]] = []
        if label is not None:
            bases = [(u.prompt, u.version, u.pinned) for u in found.labels
                     if u.label == label and u.release_id is None]  # fmt: skip
        else:
            bases = [(u.prompt, u.version, u.pinned) for u in found.versions
                     if latest.get(u.prompt) == u.version]  # fmt: skip
        todo = [(p, n, pin, uow.get_version(project, p, n)) for p, n, pin in bases
                if pin != entry.version]  # fmt: skip
    out: list[Bumped] = []
    for prompt, number, previous, version in todo:
        assert version is not None
        written = write_checked(
            ctx,
            actor,
            project,
            prompt,
            template=version.template,
            variables=version.variables,
            config=replace_dep(version.config, entry),
            message=_message(entry, previous, prompt, number, label),
        )
        out.append(Bumped(prompt, number, written.version.number, previous, written.created))
    return out


def _prompts(uow: Any, project: str, found: Impact) -> list[Any]:
    return [p for p in (uow.get_prompt(project, n) for n in {u.prompt for u in found.versions})
            if p is not None]  # fmt: skip


def _message(
    entry: CatalogEntry, previous: str | None, prompt: str, base: int, label: str | None
) -> str:
    was = previous if previous is not None else "an uncatalogued version"
    where = f"label {label}" if label else "latest"
    return (
        f"deps bump: {entry.kind}:{entry.name} {was} -> {entry.version} "
        f"(from {prompt}@{base}, {where})"
    )


def bumped_json(b: Bumped) -> dict[str, Any]:
    return {
        "prompt": b.prompt,
        "base": b.base,
        "version": b.version,
        "previous": b.previous,
        "created": b.created,
    }


@dataclass(frozen=True, slots=True)
class Deprecation:
    """A model with a retirement date within the window, and what pins it."""

    entry: CatalogEntry
    days_left: int
    versions: list[VersionUse]
    labels: list[LabelUse]


def deprecations(ctx: Context, project: str, within_days: int = 90) -> list[Deprecation]:
    """Models retiring within ``within_days`` (or already retired), soonest first, with the
    versions and labels pinned to them."""
    today = ctx.clock().date()
    out: list[Deprecation] = []
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        for entry in uow.list_dep_entries(project, DepKind.MODEL.value):
            if entry.retires_on is None:
                continue
            left = (entry.retires_on - today).days
            if left > within_days:
                continue
            found = impact_in(uow, project, entry.ref)
            out.append(Deprecation(entry, left, found.versions, found.labels))
    return sorted(out, key=lambda d: (d.days_left, str(d.entry.ref)))


def deprecation_json(d: Deprecation) -> dict[str, Any]:
    return {
        "dep": str(d.entry.ref),
        "retires_on": d.entry.retires_on.isoformat() if d.entry.retires_on else None,
        "days_left": d.days_left,
        "versions": [{"prompt": u.prompt, "version": u.version} for u in d.versions],
        "labels": [label_use_json(u) for u in d.labels],
    }
