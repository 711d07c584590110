"""``SqlUnitOfWork``: the repositories of ``store.base.UnitOfWork`` over one SQL transaction."""

from __future__ import annotations

from sqlalchemy import and_, select, union

from promptstage.store.base import SnapshotRows

from . import rows
from .calls import CallsRepository
from .catalog import CatalogRepository
from .ledger import LedgerRepository
from .tables import labels, prompts, versions


class SqlUnitOfWork(CatalogRepository, LedgerRepository, CallsRepository):
    """One transaction on one connection; built by ``SqlStore.unit_of_work``."""

    # snapshot -----------------------------------------------------------------------------
    def snapshot_rows(self, project: str) -> SnapshotRows:
        """The project's resolvable state; the caller's transaction makes the reads consistent."""
        seq = self.last_event_seq(project)
        prompt_rows = self._conn.execute(
            select(prompts).where(prompts.c.project == project).order_by(prompts.c.name)
        )
        prompt_list = [rows.to_prompt(row) for row in prompt_rows]
        label_map: dict[str, dict[str, int]] = {}
        label_rows = self._conn.execute(
            select(labels.c.prompt, labels.c.label, labels.c.version).where(
                labels.c.project == project
            )
        )
        for row in label_rows:
            label_map.setdefault(row.prompt, {})[row.label] = row.version
        # Only the versions something points at: a label, or the prompt's latest. UNION dedupes,
        # and the join walks the versions primary key, so history depth does not matter.
        pointed = union(
            select(labels.c.prompt, labels.c.version.label("number")).where(
                labels.c.project == project
            ),
            select(prompts.c.name.label("prompt"), prompts.c.latest_version.label("number")).where(
                prompts.c.project == project, prompts.c.latest_version > 0
            ),
        ).subquery("pointed")
        stmt = (
            select(versions)
            .join_from(
                pointed,
                versions,
                and_(
                    versions.c.project == project,
                    versions.c.prompt == pointed.c.prompt,
                    versions.c.number == pointed.c.number,
                ),
            )
            .order_by(versions.c.prompt, versions.c.number)
        )
        version_list = [rows.to_version(row) for row in self._conn.execute(stmt)]
        return SnapshotRows(seq=seq, prompts=prompt_list, labels=label_map, versions=version_list)
