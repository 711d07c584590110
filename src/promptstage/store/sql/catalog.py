"""Projects, prompts, versions and labels: the catalog half of the SQL unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Executable, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from promptstage.domain.models import LabelMove, Project, Prompt, Version
from promptstage.errors import NotFoundError

from . import rows
from .tables import label_moves, labels, projects, prompts, versions
from .uow_base import UnitOfWorkBase, utc


class CatalogRepository(UnitOfWorkBase):
    """What can be resolved: projects, prompts, immutable versions, movable labels."""

    # projects -----------------------------------------------------------------------------
    def create_project(self, name: str, description: str, at: datetime) -> Project:
        """Insert a project with empty audit chain and event sequence."""
        self._require_write("create_project")
        project = Project(name=name, description=description, created_at=utc(at))
        stmt = projects.insert().values(
            name=name, description=description, created_at=project.created_at,
            event_seq=0, audit_seq=0, audit_head=None,
        )  # fmt: skip
        self._insert(stmt, conflict=f"project {name!r} already exists")
        return project

    def get_project(self, name: str) -> Project | None:
        """The project called ``name``, or ``None``."""
        row = self._conn.execute(select(projects).where(projects.c.name == name)).first()
        return None if row is None else rows.to_project(row)

    def list_projects(self) -> list[Project]:
        """Every project, by name."""
        result = self._conn.execute(select(projects).order_by(projects.c.name))
        return [rows.to_project(row) for row in result]

    def lock_project(self, name: str) -> Project | None:
        """Lock the project row; on SQLite ``BEGIN IMMEDIATE`` already holds the write lock."""
        self._require_write("lock_project")
        stmt = select(projects).where(projects.c.name == name)
        if self._conn.dialect.name != "sqlite":
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return None if row is None else rows.to_project(row)

    # prompts ------------------------------------------------------------------------------
    def add_prompt(self, prompt: Prompt) -> None:
        """Insert a prompt; ``ConflictError`` if it exists, ``NotFoundError`` without its project."""
        self._require_write("add_prompt")
        stmt = prompts.insert().values(
            project=prompt.project, name=prompt.name, type=prompt.type,
            description=prompt.description, tags=list(prompt.tags),
            created_at=prompt.created_at, latest_version=prompt.latest_version,
            archived_at=prompt.archived_at,
        )  # fmt: skip
        self._insert(
            stmt,
            conflict=f"prompt {prompt.name!r} already exists in project {prompt.project!r}",
            missing=self._project_missing(prompt.project),
        )

    def get_prompt(self, project: str, name: str) -> Prompt | None:
        """The prompt, or ``None``."""
        stmt = select(prompts).where(prompts.c.project == project, prompts.c.name == name)
        row = self._conn.execute(stmt).first()
        return None if row is None else rows.to_prompt(row)

    def set_prompt(self, prompt: Prompt) -> None:
        """Replace the prompt's description, tags and ``archived_at`` (the rest never changes)."""
        self._require_write("set_prompt")
        self._conn.execute(
            update(prompts)
            .where(prompts.c.project == prompt.project, prompts.c.name == prompt.name)
            .values(
                description=prompt.description,
                tags=list(prompt.tags),
                archived_at=prompt.archived_at,
            )
        )

    def list_prompts(
        self, project: str, *, limit: int, after: str | None, archived: bool = False
    ) -> list[Prompt]:
        """Prompts by name, after the name ``after``, at most ``limit``; the archived ones
        alone with ``archived``, else the others."""
        stmt = select(prompts).where(
            prompts.c.project == project,
            prompts.c.archived_at.is_not(None) if archived else prompts.c.archived_at.is_(None),
        )
        if after is not None:
            stmt = stmt.where(prompts.c.name > after)
        stmt = stmt.order_by(prompts.c.name).limit(limit)
        return [rows.to_prompt(row) for row in self._conn.execute(stmt)]

    # versions -----------------------------------------------------------------------------
    def add_version(self, project: str, version: Version) -> None:
        """Insert a version and make it the prompt's ``latest_version``."""
        self._require_write("add_version")
        stmt = versions.insert().values(
            project=project, prompt=version.prompt, number=version.number,
            digest=version.digest, type=version.type, template=version.template,
            variables=version.variables, config=version.config, includes=version.includes,
            author=version.author, message=version.message, parent=version.parent,
            created_at=version.created_at,
        )  # fmt: skip
        self._insert(
            stmt,
            conflict=f"version {version.number} of prompt {version.prompt!r} already exists",
            missing=(
                lambda: self._prompt_exists(project, version.prompt),
                f"prompt {version.prompt!r} does not exist in project {project!r}",
            ),
        )
        self._conn.execute(
            update(prompts)
            .where(prompts.c.project == project, prompts.c.name == version.prompt)
            .values(latest_version=version.number)
        )

    def get_version(self, project: str, prompt: str, number: int) -> Version | None:
        """Version ``number`` of the prompt, or ``None``."""
        stmt = select(versions).where(
            versions.c.project == project,
            versions.c.prompt == prompt,
            versions.c.number == number,
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else rows.to_version(row)

    def get_version_by_digest(self, project: str, prompt: str, digest: str) -> Version | None:
        """The (oldest) version of the prompt with this digest, or ``None``."""
        stmt = (
            select(versions)
            .where(
                versions.c.project == project,
                versions.c.prompt == prompt,
                versions.c.digest == digest,
            )
            .order_by(versions.c.number)
            .limit(1)
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else rows.to_version(row)

    def list_versions(
        self, project: str, prompt: str, *, limit: int, before: int | None
    ) -> list[Version]:
        """Versions newest first, below number ``before``."""
        stmt = select(versions).where(versions.c.project == project, versions.c.prompt == prompt)
        if before is not None:
            stmt = stmt.where(versions.c.number < before)
        stmt = stmt.order_by(versions.c.number.desc()).limit(limit)
        return [rows.to_version(row) for row in self._conn.execute(stmt)]

    # labels -------------------------------------------------------------------------------
    def get_labels(self, project: str, prompt: str) -> dict[str, int]:
        """The prompt's labels as ``{label: version}``."""
        stmt = select(labels.c.label, labels.c.version).where(
            labels.c.project == project, labels.c.prompt == prompt
        )
        return {row.label: row.version for row in self._conn.execute(stmt)}

    def set_label(self, project: str, prompt: str, label: str, version: int, at: datetime) -> None:
        """Point ``label`` at ``version`` (insert or move)."""
        self._require_write("set_label")
        values = {
            "project": project, "prompt": prompt, "label": label,
            "version": version, "updated_at": at,
        }  # fmt: skip
        keys = [labels.c.project, labels.c.prompt, labels.c.label]
        stmt: Executable
        if self._conn.dialect.name == "postgresql":
            pg = postgresql.insert(labels).values(values)
            stmt = pg.on_conflict_do_update(
                index_elements=keys,
                set_={"version": pg.excluded.version, "updated_at": pg.excluded.updated_at},
            )
        else:
            lite = sqlite.insert(labels).values(values)
            stmt = lite.on_conflict_do_update(
                index_elements=keys,
                set_={"version": lite.excluded.version, "updated_at": lite.excluded.updated_at},
            )
        try:
            with self._conn.begin_nested():
                self._conn.execute(stmt)
        except IntegrityError as exc:
            raise NotFoundError(
                f"version {version} of prompt {prompt!r} does not exist in project {project!r}"
            ) from exc

    def delete_label(self, project: str, prompt: str, label: str) -> None:
        """Remove the label; removing one that is not set does nothing."""
        self._require_write("delete_label")
        self._conn.execute(
            labels.delete().where(
                labels.c.project == project, labels.c.prompt == prompt, labels.c.label == label
            )
        )

    def add_label_move(self, project: str, move: LabelMove) -> None:
        """Record one move in a label's history."""
        self._require_write("add_label_move")
        stmt = label_moves.insert().values(
            project=project, prompt=move.prompt, label=move.label, version=move.version,
            previous=move.previous, actor=move.actor, reason=move.reason, at=move.at,
            kind=move.kind,
        )  # fmt: skip
        self._insert(
            stmt,
            conflict=f"label move for {move.prompt!r} could not be recorded",
            missing=(
                lambda: self._prompt_exists(project, move.prompt),
                f"prompt {move.prompt!r} does not exist in project {project!r}",
            ),
        )

    def label_history(
        self, project: str, prompt: str, label: str, *, limit: int, before: int | None
    ) -> list[tuple[int, LabelMove]]:
        """Moves newest first as ``(id, move)``, below id ``before``."""
        stmt = select(label_moves).where(
            label_moves.c.project == project,
            label_moves.c.prompt == prompt,
            label_moves.c.label == label,
        )
        if before is not None:
            stmt = stmt.where(label_moves.c.id < before)
        stmt = stmt.order_by(label_moves.c.id.desc()).limit(limit)
        return [(row.id, rows.to_label_move(row)) for row in self._conn.execute(stmt)]
