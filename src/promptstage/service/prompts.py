"""Projects, prompts and versions: create, read, and write immutable versions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promptstage.domain import names
from promptstage.domain.canonical import version_digest
from promptstage.domain.diff import diff_versions
from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.hints import did_you_mean
from promptstage.domain.models import MAX_VERSION, PROMPT_TYPES, Project, Prompt, Version
from promptstage.domain.template import (
    CompiledTemplate,
    check_template,
    includes_of,
    parse_variables,
)
from promptstage.domain.wire import prompt_json, version_json
from promptstage.errors import ConflictError, InvalidInputError, NotFoundError, TemplateError
from promptstage.evals.static_checks import DEFAULT_STATIC_POLICY, Finding, blocking, findings
from promptstage.store.base import CatalogRepo, UnitOfWork

from .context import Change, Context, change
from .dep_refs import resolve_config
from .eval_policy import static_policy
from .pagination import check_limit, decode_cursor, page

MAX_TAGS = 32
MAX_TEXT = 2000


def short_text(value: Any, field: str, limit: int = MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidInputError(
            f"{field} must be a string of at most {limit} characters", field=field
        )
    return value


def create_project(ctx: Context, actor: str, name: str, description: str | None = None) -> Project:
    names.project_name(name, "name")
    desc = short_text(description, "description")
    with ctx.store.unit_of_work(write=True) as uow:
        if uow.get_project(name) is not None:
            raise ConflictError(f"project {name!r} already exists", field="name")
        ch = Change(ctx, uow, name, actor)
        project = uow.create_project(name, desc, ch.at)
        uow.lock_project(name)
        ch.record(
            AuditAction.PROJECT_CREATE,
            f"project:{name}",
            before=None,
            after={"name": name, "description": desc},
        )
    return project


def list_projects(ctx: Context, visible: Collection[str] | None = None) -> list[Project]:
    """The projects, by name; only those in ``visible`` when it is given (a person sees the
    projects they hold a role in; the instance admin every one)."""
    with ctx.store.unit_of_work() as uow:
        projects = uow.list_projects()
    if visible is None:
        return projects
    return [p for p in projects if p.name in visible]


def require_project(uow: CatalogRepo, project: str) -> Project:
    found = uow.get_project(project)
    if found is None:
        hint = did_you_mean(project, (p.name for p in uow.list_projects()))
        raise NotFoundError(
            f"project {project!r} does not exist{hint}; create it with "
            f"`promptstage project create {project}` (API: POST /api/v1/projects)",
            field="project",
        )
    return found


def require_prompt(uow: CatalogRepo, project: str, name: str) -> Prompt:
    require_project(uow, project)
    found = uow.get_prompt(project, name)
    if found is None:
        names_held = (p.name for p in uow.list_prompts(project, limit=10_000, after=None))
        raise NotFoundError(
            f"prompt {name!r} does not exist in project {project!r}"
            f"{did_you_mean(name, names_held)}",
            field="prompt",
        )
    return found


def require_live_prompt(uow: CatalogRepo, project: str, name: str) -> Prompt:
    """The prompt, which must not be archived (nothing is written to or moved on it).

    Raises:
        NotFoundError: no such prompt.
        ConflictError: it is archived; the message says how to unarchive it.
    """
    found = require_prompt(uow, project, name)
    if found.archived_at is not None:
        raise ConflictError(
            f"prompt {name!r} is archived; unarchive it first "
            f"(promptstage prompt unarchive {name})",
            field="prompt",
        )
    return found


def require_version(
    uow: CatalogRepo, project: str, prompt: str, number: int, field: str = "version"
) -> Version:
    found = uow.get_version(project, prompt, number) if 1 <= number <= MAX_VERSION else None
    if found is None:
        raise NotFoundError(f"prompt {prompt!r} has no version {number}", field=field)
    return found


def check_tags(tags: list[str] | None) -> tuple[str, ...]:
    """Tags as stored: at most ``MAX_TAGS`` strings of 1-64 characters, without duplicates."""
    tag_list = list(tags or [])
    if len(tag_list) > MAX_TAGS or not all(
        isinstance(t, str) and 0 < len(t) <= 64 for t in tag_list
    ):
        raise InvalidInputError(
            f"tags must be at most {MAX_TAGS} strings of 1-64 characters", field="tags"
        )
    return tuple(dict.fromkeys(tag_list))


def create_prompt(
    ctx: Context,
    actor: str,
    project: str,
    name: str,
    type_: str,
    description: str | None = None,
    tags: list[str] | None = None,
) -> Prompt:
    """Create a prompt with no versions (``prompt_lifecycle.create_with_version`` writes its
    first version in the same transaction).

    Raises:
        ConflictError: the prompt exists.
        InvalidInputError: the name, type, description or tags are invalid.
    """
    names.prompt_name(name)
    if type_ not in PROMPT_TYPES:
        raise InvalidInputError(
            f"type must be one of {list(PROMPT_TYPES)}, got {type_!r}", field="type"
        )
    desc = short_text(description, "description")
    tag_tuple = check_tags(tags)
    with change(ctx, project, actor) as ch:
        return add_prompt_in(ch, Prompt(project, name, type_, desc, tag_tuple, ch.at))


def add_prompt_in(ch: Change, prompt: Prompt) -> Prompt:
    """Store a new prompt inside the caller's transaction, with its audit row and event.

    Raises:
        ConflictError: the prompt exists.
    """
    if ch.uow.get_prompt(ch.project, prompt.name) is not None:
        raise ConflictError(
            f"prompt {prompt.name!r} already exists in project {ch.project!r}", field="name"
        )
    ch.uow.add_prompt(prompt)
    ch.record(
        AuditAction.PROMPT_CREATE,
        f"prompt:{prompt.name}",
        before=None,
        after=prompt_json(prompt),
        event=outbox_event(EventType.PROMPT_CREATED, {"prompt": prompt.name, "type": prompt.type}),
    )
    return prompt


def list_prompts(
    ctx: Context,
    project: str,
    limit: int = 100,
    cursor: str | None = None,
    *,
    archived: bool = False,
) -> tuple[list[Prompt], str | None]:
    """A page of prompts by name: the archived ones are left out, or alone with ``archived``."""
    check_limit(limit)
    after = decode_cursor(cursor, str)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        rows = uow.list_prompts(project, limit=limit + 1, after=after, archived=archived)
    return page(rows, limit, lambda p: p.name)


@dataclass(frozen=True, slots=True)
class Written:
    """A written (or found) version, and the static check findings that only warn."""

    version: Version
    created: bool
    warnings: list[Finding] = field(default_factory=list)


def write_version(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    *,
    template: Any,
    variables: Any = None,
    config: Any,
    message: str | None = None,
) -> tuple[Version, bool]:
    """Write a new immutable version, or return the existing one with the same digest.

    Returns:
        ``(version, created)``; ``created`` is ``False`` when the content already existed.

    Raises:
        InvalidInputError: a static check blocks the write (see :func:`write_checked`).
    """
    written = write_checked(
        ctx,
        actor,
        project,
        prompt,
        template=template,
        variables=variables,
        config=config,
        message=message,
    )
    return written.version, written.created


def _static_checks(
    uow: UnitOfWork,
    project: str,
    type_: str,
    template: Any,
    variables: list[Any],
    config: dict[str, Any],
    includes: dict[str, str],
) -> list[Finding]:
    """The project's static checks on a version about to be written: the warnings.

    Raises:
        InvalidInputError: a finding blocks (422 naming the field, the position and the fix).
    """
    settings = uow.project_settings(project)
    policy = static_policy(settings) if settings is not None else DEFAULT_STATIC_POLICY
    fields = {
        "type": type_,
        "template": template,
        "variables": variables,
        "config": config,
        "includes": includes,
    }
    found = findings(fields, policy)
    blocked = blocking(found)
    if blocked:
        first = blocked[0]
        shown = "; ".join(_where(f) + f.message for f in blocked[:5])
        more = f" (and {len(blocked) - 5} more)" if len(blocked) > 5 else ""
        raise InvalidInputError(
            f"the version was not stored: {len(blocked)} static check finding(s) block it: "
            f"{shown}{more}",
            field=first.field,
            findings=[f.to_dict() for f in blocked],
        )
    return [f for f in found if f.severity == "warn"]


def _where(f: Finding) -> str:
    if f.line is not None:
        return f"{f.field} line {f.line} column {f.column}: "
    return f"{f.field}: "


def write_checked(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    *,
    template: Any,
    variables: Any = None,
    config: Any,
    message: str | None = None,
) -> Written:
    """``write_version``, with the static checks' warnings (``Written.warnings``).

    Catalog references in ``config`` are resolved first (``dep_refs.resolve_config``).
    The project's static checks run before anything is stored (``evals.static_checks``, with
    the severities of its settings): a blocking finding refuses the write.

    Raises:
        InvalidInputError: a static check blocks the write (422 naming the field, the
            position and the fix; ``details.findings`` lists them); or the input is invalid.
    """
    msg = short_text(message, "message")
    with change(ctx, project, actor) as ch:
        normalized_config = resolve_config(ch.uow, project, config)
        return write_in(ch, prompt, template, variables, normalized_config, msg)


def write_in(
    ch: Change,
    prompt: str,
    template: Any,
    variables: Any,
    normalized_config: dict[str, Any],
    msg: str,
) -> Written:
    """``write_checked`` inside the caller's transaction."""
    uow, project = ch.uow, ch.project
    version = draft_in(
        ch.ctx,
        uow,
        project,
        prompt,
        template,
        variables,
        normalized_config,
        ch.actor,
        msg,
        ch.at,
    )
    warnings = _static_checks(
        uow,
        project,
        version.type,
        version.template,
        version.variables,
        normalized_config,
        version.includes,
    )
    existing = uow.get_version_by_digest(project, prompt, version.digest)
    if existing is not None:
        return Written(existing, False, warnings)
    next_number, digest = version.number, version.digest
    uow.add_version(project, version)
    body = version_json(version)
    ch.record(
        AuditAction.VERSION_CREATE,
        f"prompt:{prompt}@{next_number}",
        before=None,
        after={"version": next_number, "digest": digest, "message": msg},
        event=outbox_event(EventType.VERSION_CREATED, {"prompt": prompt, "version": body}),
    )
    return Written(version, True, warnings)


def draft_in(
    ctx: Context,
    uow: CatalogRepo,
    project: str,
    prompt: str,
    template: Any,
    variables: Any,
    normalized_config: dict[str, Any],
    actor: str,
    message: str,
    at: datetime,
) -> Version:
    """The version ``write_version`` would write next, checked exactly as it checks it, but not
    stored (the editor's preview and review read it too).

    Raises:
        InvalidInputError: naming the field (``template``, ``variables[i]...``).
        NotFoundError: the prompt does not exist.
    """
    found = require_live_prompt(uow, project, prompt)
    normalized_template = check_template(found.type, template)
    next_number = found.latest_version + 1
    includes = _resolve_includes(uow, project, prompt, found.type, normalized_template, next_number)
    if variables is None:
        compiled = CompiledTemplate(
            found.type, normalized_template, [], includes, max_bytes=ctx.max_rendered_bytes
        )
        declared = [
            {"name": n, "type": None, "required": True} for n in sorted(compiled.placeholders)
        ]
    else:
        declared = parse_variables(variables)
    compiled = CompiledTemplate(
        found.type, normalized_template, declared, includes, max_bytes=ctx.max_rendered_bytes
    )
    compiled.check_size()  # before a version no render could serve is stored
    undeclared = sorted(compiled.placeholders - set(compiled.declared))
    if undeclared:
        raise TemplateError(
            f"template uses {undeclared} but variables does not declare them; declare them, "
            "or omit variables to declare every placeholder as a required string",
            field="variables",
        )
    return Version(
        prompt=prompt,
        number=next_number,
        digest=version_digest(found.type, normalized_template, declared, normalized_config),
        type=found.type,
        template=normalized_template,
        variables=declared,
        config=normalized_config,
        author=actor,
        message=message,
        parent=found.latest_version or None,
        created_at=at,
        includes=includes,
    )


def _resolve_includes(
    uow: CatalogRepo, project: str, prompt: str, type_: str, template: Any, next_number: int
) -> dict[str, str]:
    """Map every (transitive) include to its template text; reject cycles and missing targets."""
    resolved: dict[str, str] = {}
    for inc in includes_of(type_, template):
        if inc.prompt == prompt and inc.version >= next_number:
            raise TemplateError(
                f"include {inc.key} would include the version being written (an include cycle); "
                f"include an earlier version, at most {prompt}@{next_number - 1}",
                field="template",
            )
        target = uow.get_version(project, inc.prompt, inc.version)
        if target is None:
            raise TemplateError(
                f"include {inc.key} does not exist: write that version first or pin an existing one",
                field="template",
            )
        if target.type != "text":
            raise TemplateError(
                f"include {inc.key} is a chat prompt; only text prompts can be included",
                field="template",
            )
        resolved[inc.key] = target.template
        resolved.update(target.includes)
    return resolved


def get_prompt(ctx: Context, project: str, name: str) -> tuple[Prompt, dict[str, int]]:
    with ctx.store.unit_of_work() as uow:
        found = require_prompt(uow, project, name)
        labels = uow.get_labels(project, name)
    if found.latest_version:
        labels = {**labels, names.LATEST: found.latest_version}
    return found, labels


def get_version(ctx: Context, project: str, prompt: str, number: int) -> Version:
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        return require_version(uow, project, prompt, number)


def list_versions(
    ctx: Context, project: str, prompt: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[Version], str | None]:
    check_limit(limit)
    before = decode_cursor(cursor, int, maximum=MAX_VERSION)
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        rows = uow.list_versions(project, prompt, limit=limit + 1, before=before)
    return page(rows, limit, lambda v: v.number)


def diff(ctx: Context, project: str, prompt: str, from_: int, to: int) -> dict[str, Any]:
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        old = require_version(uow, project, prompt, from_, "from")
        new = require_version(uow, project, prompt, to, "to")
    return diff_versions(old, new)
