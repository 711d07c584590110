"""The dependency catalog: register entries, read them, and ask what uses them.

Entries are immutable (registering the same content again returns the stored entry; other
content under the same ``kind:name@version`` is a conflict). Impact queries scan the project's
versions' configs (what a version pinned is in its config, whether it was written with
references or inline) and the labels and active releases that serve them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from promptstage.domain.deps import (
    CatalogEntry,
    DepKind,
    DepRef,
    check_kind,
    check_name,
    check_version,
    entry_digest,
    entry_inline,
    parse_body,
    pinned,
)
from promptstage.domain.events import AuditAction
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError
from promptstage.store.base import UnitOfWork

from .context import Context, change
from .dep_refs import catalog_near
from .prompts import require_project


@dataclass(frozen=True, slots=True)
class VersionUse:
    """A prompt version that pins the dependency; ``pinned`` is the version it pins
    (``None``: a tool whose content matches no catalog version)."""

    prompt: str
    version: int
    pinned: str | None


@dataclass(frozen=True, slots=True)
class LabelUse:
    """A label serving a version that pins the dependency; ``release_id`` is set when the
    version is the candidate of an active release on the label (it serves the canary)."""

    prompt: str
    label: str
    version: int
    pinned: str | None
    release_id: str | None = None


@dataclass(frozen=True, slots=True)
class Impact:
    ref: DepRef
    versions: list[VersionUse] = field(default_factory=list)
    labels: list[LabelUse] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Registered:
    """A registered entry; ``created`` is ``False`` when the same content existed. ``stale``
    lists the labels serving versions that pin another version of the same name."""

    entry: CatalogEntry
    created: bool
    stale: list[LabelUse]


def entry_json(entry: CatalogEntry) -> dict[str, Any]:
    """The wire form of a catalog entry."""
    return {
        "kind": entry.kind,
        "name": entry.name,
        "version": entry.version,
        "ref": str(entry.ref),
        "digest": entry.digest,
        "body": entry.body,
        "pins": entry_inline(entry),
        "author": entry.author,
        "created_at": entry.created_at.isoformat().replace("+00:00", "Z"),
        "retires_on": entry.retires_on.isoformat() if entry.retires_on else None,
    }


def register(
    ctx: Context,
    actor: str,
    project: str,
    kind: str,
    name: Any,
    version: Any,
    body: Any = None,
) -> Registered:
    """Register ``kind:name@version`` (audited as ``dep.register``).

    Raises:
        InvalidInputError: naming ``kind``, ``name``, ``version`` or ``body.<key>``.
        ConflictError: that version exists with other content (entries are immutable).
    """
    dep_kind = check_kind(kind)
    name = check_name(dep_kind, name)
    version = check_version(version)
    normalized = parse_body(dep_kind, body)
    digest = entry_digest(dep_kind.value, name, version, normalized)
    with change(ctx, project, actor) as ch:
        existing = ch.uow.get_dep_entry(project, dep_kind.value, name, version)
        if existing is not None:
            if existing.digest != digest:
                raise ConflictError(
                    f"{dep_kind}:{name}@{version} is already registered with other content "
                    "(catalog entries are immutable); register the change as a new version",
                    field="version",
                )
            return Registered(existing, False, [])
        entry = CatalogEntry(
            project, dep_kind.value, name, version, digest, normalized, actor, ch.at
        )
        ch.uow.add_dep_entry(entry)
        ch.record(
            AuditAction.DEP_REGISTER,
            f"dep:{entry.ref}",
            before=None,
            after={"digest": digest, "body": normalized},
        )
        every = impact_in(ch.uow, project, DepRef(dep_kind, name))
    stale = [u for u in every.labels if u.pinned != version]
    return Registered(entry, True, stale)


def list_entries(
    ctx: Context, project: str, kind: str | None = None, name: str | None = None
) -> list[CatalogEntry]:
    if kind is not None:
        check_kind(kind)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return uow.list_dep_entries(project, kind, name)


def catalog_with_impact(ctx: Context, project: str) -> list[tuple[CatalogEntry, Impact]]:
    """Every entry with what uses it at its version (the catalog page), in one unit of work."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        return [(e, impact_in(uow, project, e.ref)) for e in uow.list_dep_entries(project)]


def require_entry(uow: UnitOfWork, project: str, ref: DepRef) -> CatalogEntry:
    """The entry ``ref`` names (it must carry a version).

    Raises:
        NotFoundError: naming the versions that exist, or a near name.
    """
    if ref.version is None:
        raise InvalidInputError(f"name a version: {ref}@VERSION", field="dep")
    found = uow.get_dep_entry(project, ref.kind, ref.name, ref.version)
    if found is None:
        held, near = catalog_near(uow, project, ref)
        hint = f"; it has versions {held}" if held else near
        raise NotFoundError(f"{ref} is not in the catalog of {project!r}{hint}", field="dep")
    return found


def get_entry(ctx: Context, project: str, ref: DepRef) -> tuple[CatalogEntry, Impact]:
    """An entry and what uses it at that version."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        entry = require_entry(uow, project, ref)
        return entry, impact_in(uow, project, ref)


def set_retirement(
    ctx: Context, actor: str, project: str, ref: DepRef, retires_on: date | None
) -> CatalogEntry:
    """Set (or clear, with ``None``) a model's retirement date (audited as ``dep.retire``)."""
    if ref.kind is not DepKind.MODEL:
        raise InvalidInputError(f"only models retire; {ref} is a {ref.kind}", field="dep")
    with change(ctx, project, actor) as ch:
        entry = require_entry(ch.uow, project, ref)
        ch.uow.set_dep_retirement(project, entry.kind, entry.name, entry.version, retires_on)
        ch.record(
            AuditAction.DEP_RETIRE,
            f"dep:{entry.ref}",
            before={"retires_on": entry.retires_on.isoformat() if entry.retires_on else None},
            after={"retires_on": retires_on.isoformat() if retires_on else None},
        )
        found = ch.uow.get_dep_entry(project, entry.kind, entry.name, entry.version)
    assert found is not None
    return found


def impact(ctx: Context, project: str, ref: DepRef) -> Impact:
    """The versions, labels and release canaries that pin ``ref`` (any version when
    ``ref.version`` is ``None``).

    Raises:
        NotFoundError: the project, or the entry at ``ref.version``, does not exist.
    """
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        if ref.version is not None:
            require_entry(uow, project, ref)
        return impact_in(uow, project, ref)


def _version_of(kind: DepKind, value: dict[str, Any], tools: list[CatalogEntry]) -> str | None:
    if kind is not DepKind.TOOL:
        return str(value["version"])
    for entry in reversed(tools):  # the newest catalog version with this content
        if entry_inline(entry) == value:
            return entry.version
    return None


def impact_in(uow: UnitOfWork, project: str, ref: DepRef) -> Impact:
    """``impact`` inside the caller's unit of work."""
    tools = uow.list_dep_entries(project, "tool", ref.name) if ref.kind is DepKind.TOOL else []
    uses: dict[tuple[str, int], str | None] = {}
    for prompt, number, config in uow.version_configs(project):
        for kind, name, value in pinned(config):
            if kind is not ref.kind or name != ref.name:
                continue
            at = _version_of(kind, value, tools)
            if ref.version is None or at == ref.version:
                uses[(prompt, number)] = at
    prompts = sorted({p for p, _ in uses})
    labels: list[LabelUse] = []
    for prompt, held in uow.labels_of(project, prompts).items():
        for label, number in sorted(held.items()):
            if (prompt, number) in uses:
                labels.append(LabelUse(prompt, label, number, uses[(prompt, number)]))
    for release in uow.active_releases(project):
        key = (release.prompt, release.candidate_version)
        if key in uses:
            labels.append(
                LabelUse(release.prompt, release.label, key[1], uses[key], release_id=release.id)
            )
    versions = [VersionUse(p, n, at) for (p, n), at in sorted(uses.items())]
    return Impact(ref, versions, labels)


def impact_json(found: Impact) -> dict[str, Any]:
    return {
        "dep": str(found.ref),
        "versions": [
            {"prompt": u.prompt, "version": u.version, "pinned": u.pinned} for u in found.versions
        ],
        "labels": [label_use_json(u) for u in found.labels],
    }


def label_use_json(u: LabelUse) -> dict[str, Any]:
    return {
        "prompt": u.prompt,
        "label": u.label,
        "version": u.version,
        "pinned": u.pinned,
        "release_id": u.release_id,
    }
