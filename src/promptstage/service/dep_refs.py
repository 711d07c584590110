"""Resolving catalog references in a version's config when it is written.

A reference (``{"tool": "book_appointment@3"}``, docs/dependencies.md) is replaced by the
entry's inline form before the config is validated and digested, so the stored version does
not depend on the catalog afterwards and has the digest of the same config written inline.
"""

from __future__ import annotations

from typing import Any

from promptstage.domain.config import parse_config
from promptstage.domain.deps import CatalogEntry, DepRef, references, substitute
from promptstage.domain.hints import did_you_mean
from promptstage.errors import NotFoundError
from promptstage.store.base import DepsRepo


def resolve_config(uow: DepsRepo | None, project: str, config: Any) -> dict[str, Any]:
    """``parse_config`` of ``config`` with its catalog references resolved.

    ``uow`` may be ``None`` when the config holds no reference (the check happens first).

    Raises:
        NotFoundError: a reference names no catalog entry (naming the field and the versions
            that exist).
        InvalidInputError: the config, once resolved, is invalid.
    """
    if not references(config):
        return parse_config(config)
    if uow is None:  # pragma: no cover - callers pass a unit of work when references exist
        raise RuntimeError("resolve_config needs a unit of work to resolve references")
    store = uow

    def lookup(field: str, ref: DepRef) -> CatalogEntry:
        assert ref.version is not None
        found = store.get_dep_entry(project, ref.kind, ref.name, ref.version)
        if found is None:
            held, near = catalog_near(store, project, ref)
            known = (
                f"; {ref.kind}:{ref.name} has versions {held}"
                if held
                else f"{near}; register it with "
                f"`promptstage deps add {ref.kind}:{ref.name}@{ref.version}`"
            )
            raise NotFoundError(f"{field} references {ref}, which is not in the catalog{known}",
                                field=field)  # fmt: skip
        return found

    return parse_config(substitute(config, lookup))


def catalog_near(store: DepsRepo, project: str, ref: DepRef) -> tuple[list[Any], str]:
    """What the catalog holds near an entry it lacks: the versions of ``ref``'s name, or, when
    there are none, a "did you mean" among the names of its kind (``""`` if none is close)."""
    held = [e.version for e in store.list_dep_entries(project, ref.kind, ref.name)]
    if held:
        return held, ""
    return held, did_you_mean(ref.name, (e.name for e in store.list_dep_entries(project, ref.kind)))
