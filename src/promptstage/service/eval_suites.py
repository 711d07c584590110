"""Eval suites of a project: push (YAML or TOML), list beside the built-ins, show.

A suite version is immutable and digested (``evals.suite``): pushing a suite whose normalized
body has the digest of an existing version returns that version; anything else becomes the
next version number. Built-in suites (``builtin/security``) ship with the package, are listed
beside the project's own with version ``0`` and cannot be pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptstage.domain.evals import EvalSuiteRecord
from promptstage.domain.events import AuditAction
from promptstage.domain.models import iso_utc
from promptstage.errors import InvalidInputError, NotFoundError
from promptstage.evals.builtin import BUILTIN_SUITES, builtin_suite
from promptstage.evals.suite import BUILTIN_PREFIX, Suite, parse_suite, suite_from_dict
from promptstage.store.base import EvalsRepo

from .context import Context, change
from .prompts import require_project

FORMATS = ("yaml", "toml")
BUILTIN_AUTHOR = "promptstage"


@dataclass(frozen=True, slots=True)
class SuiteView:
    """A suite version as the API shows it; built-ins have version 0 and no time."""

    name: str
    version: int
    digest: str
    suite: Suite
    author: str
    created_at: datetime | None
    builtin: bool

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "description": self.suite.description,
            "cases": len(self.suite.cases),
            "builtin": self.builtin,
            "author": self.author,
            "created_at": None if self.created_at is None else iso_utc(self.created_at),
        }

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "body": self.suite.to_dict()}


def _builtin_view(name: str) -> SuiteView:
    suite = builtin_suite(name)
    return SuiteView(name, 0, suite.digest, suite, BUILTIN_AUTHOR, None, True)


def _view(record: EvalSuiteRecord) -> SuiteView:
    suite = suite_from_dict(record.body)
    if suite.digest != record.digest:  # a changed row must not pass as the digested suite
        raise InvalidInputError(
            f"suite {record.name!r} version {record.version} does not match its digest; "
            "push the suite again",
            field="suite",
        )
    return SuiteView(
        record.name, record.version, record.digest, suite, record.author, record.created_at, False
    )


def load_suite(uow: EvalsRepo, project: str, name: str, version: int | None = None) -> SuiteView:
    """A suite version (the newest when ``version`` is ``None``); built-ins by name.

    Raises:
        NotFoundError: no such suite or version.
    """
    if name.startswith(BUILTIN_PREFIX):
        if version not in (None, 0) or name not in BUILTIN_SUITES:
            raise NotFoundError(
                f"suite {name!r} is not a built-in suite (built-ins: {sorted(BUILTIN_SUITES)}, "
                "version 0)",
                field="suite",
            )
        return _builtin_view(name)
    record = uow.get_eval_suite(project, name, version)
    if record is None:
        what = f"suite {name!r}" + ("" if version is None else f" version {version}")
        raise NotFoundError(
            f"{what} does not exist in project {project!r}; push it with "
            "POST /api/v1/projects/{project}/evals/suites",
            field="suite",
        )
    return _view(record)


def push_suite(
    ctx: Context, actor: str, project: str, text: Any, fmt: Any = "yaml"
) -> tuple[SuiteView, bool]:
    """Parse and store a suite; ``(version, created)``. An identical digest returns the
    existing version (``created`` False) and writes nothing.

    Raises:
        InvalidInputError: the format is unknown or the suite is invalid (naming the path).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {list(FORMATS)}", field="format")
    if not isinstance(text, str):
        raise InvalidInputError("text must be the suite file's text", field="text")
    suite = parse_suite(text, fmt)
    with change(ctx, project, actor) as ch:
        found = ch.uow.get_eval_suite_by_digest(project, suite.name, suite.digest)
        if found is not None:
            return _view(found), False
        newest = ch.uow.get_eval_suite(project, suite.name)
        number = 1 if newest is None else newest.version + 1
        record = EvalSuiteRecord(
            project, suite.name, number, suite.digest, suite.to_dict(), actor, ch.at
        )
        ch.uow.add_eval_suite(record)
        ch.record(
            AuditAction.EVAL_SUITE_PUSH,
            f"suite:{suite.name}",
            before=None if newest is None else {"version": newest.version, "digest": newest.digest},
            after={"version": number, "digest": suite.digest, "cases": len(suite.cases)},
        )
    return SuiteView(suite.name, number, suite.digest, suite, actor, ch.at, False), True


def list_suites(ctx: Context, project: str) -> list[SuiteView]:
    """The built-in suites, then the newest version of each of the project's suites."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        records = uow.list_eval_suites(project)
    return [_builtin_view(n) for n in sorted(BUILTIN_SUITES)] + [_view(r) for r in records]


def show_suite(
    ctx: Context, project: str, name: str, version: int | None = None
) -> tuple[SuiteView, list[dict[str, Any]]]:
    """A suite version with its body, and the summary of every version of it."""
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        view = load_suite(uow, project, name, version)
        if view.builtin:
            return view, [view.summary()]
        versions = uow.list_eval_suite_versions(project, name)
    return view, [
        {
            "version": r.version,
            "digest": r.digest,
            "author": r.author,
            "created_at": iso_utc(r.created_at),
        }
        for r in versions
    ]
