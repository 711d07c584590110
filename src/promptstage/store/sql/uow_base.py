"""The shared core of the SQL unit of work: its connection and error mapping."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Executable, select
from sqlalchemy.exc import IntegrityError

from promptstage.errors import ConflictError, NotFoundError

from .tables import projects, prompts


def utc(at: datetime) -> datetime:
    """``at`` in UTC; naive datetimes are refused (``astimezone`` would guess local time)."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
    return at.astimezone(UTC)


def float_or_zero(value: Any) -> float:
    """A SQL sum as a float: ``NULL`` (a sum over no rows) is 0."""
    return float(value) if value is not None else 0.0


class UnitOfWorkBase:
    """One transaction on one connection; the repositories mix in on top of it."""

    def __init__(self, connection: Connection, *, write: bool) -> None:
        self._conn = connection
        self._write = write

    # helpers ------------------------------------------------------------------------------
    def _require_write(self, what: str) -> None:
        # Fail the same way on both backends (Postgres read units of work are READ ONLY).
        if not self._write:
            raise RuntimeError(f"{what} changes data: open the unit of work with write=True")

    def _insert(
        self,
        stmt: Executable,
        *,
        conflict: str,
        missing: tuple[Callable[[], bool], str] | None = None,
    ) -> None:
        """Run an insert in a savepoint, mapping constraint violations to domain errors.

        The savepoint keeps the transaction usable after a violation (Postgres aborts the whole
        transaction otherwise), so a caller may catch the error and carry on.
        """
        try:
            with self._conn.begin_nested():
                self._conn.execute(stmt)
        except IntegrityError as exc:
            if missing is not None and not missing[0]():
                raise NotFoundError(missing[1]) from exc
            raise ConflictError(conflict) from exc

    def _project_missing(self, project: str | None) -> tuple[Callable[[], bool], str] | None:
        """``_insert``'s ``missing`` for a row of ``project`` (``None``: instance-level, none)."""
        if project is None:
            return None
        return (lambda: self._project_exists(project), f"project {project!r} does not exist")

    def _project_exists(self, name: str) -> bool:
        stmt = select(projects.c.name).where(projects.c.name == name)
        return self._conn.execute(stmt).first() is not None

    def _prompt_exists(self, project: str, name: str) -> bool:
        stmt = select(prompts.c.name).where(prompts.c.project == project, prompts.c.name == name)
        return self._conn.execute(stmt).first() is not None
