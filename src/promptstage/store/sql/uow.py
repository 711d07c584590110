"""``SqlUnitOfWork``: the repositories of ``store.base.UnitOfWork`` over one SQL transaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Text, and_, cast, select, union

from promptstage.domain.models import Version
from promptstage.store import base
from promptstage.store.base import SnapshotPrompt, SnapshotRows

from .calls import CallsRepository
from .catalog import CatalogRepository
from .deps import DepsRepository
from .evals import EvalsRepository
from .governance import GovernanceRepository
from .idempotency import IdempotencyRepository
from .ledger import LedgerRepository
from .overview import OverviewRepository
from .quality import QualityRepository
from .releases import ReleasesRepository
from .tables import labels, prompts, releases, versions
from .users import UsersRepository
from .webhooks import WebhooksRepository

_JSON_COLUMNS: Final = ("template", "variables", "config", "includes")
_MISSING: Final = object()


class SqlUnitOfWork(
    DepsRepository,
    CatalogRepository,
    LedgerRepository,
    CallsRepository,
    QualityRepository,
    ReleasesRepository,
    WebhooksRepository,
    GovernanceRepository,
    IdempotencyRepository,
    UsersRepository,
    OverviewRepository,
    EvalsRepository,
):
    """One transaction on one connection; built by ``SqlStore.unit_of_work``."""

    # snapshot -----------------------------------------------------------------------------
    def snapshot_rows(self, project: str) -> SnapshotRows:
        """The project's resolvable state; the caller's transaction makes the reads consistent."""
        seq = self.last_event_seq(project)
        prompt_rows = self._conn.execute(
            select(prompts.c.name, prompts.c.type, prompts.c.latest_version)
            .where(prompts.c.project == project, prompts.c.archived_at.is_(None))
            .order_by(prompts.c.name)
        )
        prompt_list = [SnapshotPrompt(*row) for row in prompt_rows]
        label_map: dict[str, dict[str, int]] = {}
        label_rows = self._conn.execute(
            select(labels.c.prompt, labels.c.label, labels.c.version).where(
                labels.c.project == project
            )
        )
        for row in label_rows:
            label_map.setdefault(row.prompt, {})[row.label] = row.version
        active = self.active_releases(project)
        # Only the versions something points at: a label, the prompt's latest, or an active
        # release's baseline and candidate. UNION dedupes, and the join walks the versions
        # primary key, so history depth does not matter.
        in_release = releases.c.state.in_(("running", "paused"))
        pointed = union(
            select(labels.c.prompt, labels.c.version.label("number")).where(
                labels.c.project == project
            ),
            select(prompts.c.name.label("prompt"), prompts.c.latest_version.label("number")).where(
                prompts.c.project == project,
                prompts.c.latest_version > 0,
                prompts.c.archived_at.is_(None),
            ),
            select(releases.c.prompt, releases.c.baseline_version.label("number")).where(
                releases.c.project == project, in_release
            ),
            select(releases.c.prompt, releases.c.candidate_version.label("number")).where(
                releases.c.project == project, in_release
            ),
        ).subquery("pointed")
        # The JSON columns as their text, decoded here once per distinct text: versions share
        # configs and variable lists, so at 100,000 prompts this is most of the decoding saved,
        # and the decoded values are shared (a snapshot's versions are never mutated).
        v = versions.c
        as_text = {name: cast(versions.c[name], Text) for name in _JSON_COLUMNS}
        stmt = (
            select(
                v.prompt,
                v.number,
                v.digest,
                v.type,
                as_text["template"],
                as_text["variables"],
                as_text["config"],
                v.author,
                v.message,
                v.parent,
                v.created_at,
                as_text["includes"],
            )
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
        decoded: dict[str, Any] = {}

        def load(text: str) -> Any:
            found = decoded.get(text, _MISSING)
            if found is _MISSING:
                found = decoded[text] = json.loads(text)
            return found

        # Rows unpacked by position (the select's order): a named attribute per column costs
        # more than the rest of the row at 100,000 prompts.
        version_list = [
            Version(
                prompt,
                number,
                digest,
                type_,
                json.loads(template),  # unique per version: not kept
                load(variables),
                load(config),
                author,
                message,
                parent,
                created_at,
                load(includes),
            )
            for (
                prompt,
                number,
                digest,
                type_,
                template,
                variables,
                config,
                author,
                message,
                parent,
                created_at,
                includes,
            ) in self._conn.execute(stmt)
        ]
        return SnapshotRows(
            seq=seq, prompts=prompt_list, labels=label_map, versions=version_list, releases=active
        )


if TYPE_CHECKING:
    # mypy proves each SQL repository alone implements its Protocol in store.base, so the
    # narrow seams the services name stay true to the modules that implement them.
    def _mirrors(
        catalog: CatalogRepository,
        ledger: LedgerRepository,
        calls: CallsRepository,
        quality: QualityRepository,
        releases: ReleasesRepository,
        webhooks: WebhooksRepository,
        governance: GovernanceRepository,
        idempotency: IdempotencyRepository,
        users: UsersRepository,
        overview: OverviewRepository,
        evals: EvalsRepository,
        deps: DepsRepository,
    ) -> tuple[
        base.CatalogRepo,
        base.LedgerRepo,
        base.CallsRepo,
        base.QualityRepo,
        base.ReleasesRepo,
        base.WebhooksRepo,
        base.GovernanceRepo,
        base.IdempotencyRepo,
        base.UsersRepo,
        base.OverviewRepo,
        base.EvalsRepo,
        base.DepsRepo,
    ]:
        return (
            catalog,
            ledger,
            calls,
            quality,
            releases,
            webhooks,
            governance,
            idempotency,
            users,
            overview,
            evals,
            deps,
        )
