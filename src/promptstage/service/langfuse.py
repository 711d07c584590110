"""The Langfuse public prompt API's use cases, over the same services as our own API.

Every write goes through :mod:`promptstage.service.prompts` (static checks),
:mod:`promptstage.service.prompt_lifecycle` and :func:`promptstage.service.governance.propose_move`
(roles, protected labels, four-eyes, the evaluation gate, audit); reads resolve labels like
``/resolve`` does (a running release picks the unit's arm; no unit: the baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from promptstage.domain import langfuse as lf
from promptstage.domain import names
from promptstage.domain.models import Role, Version
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)

from . import governance
from . import prompt_lifecycle as lifecycle
from . import prompts as svc
from .access import check
from .context import Context
from .keys import Principal
from .snapshot import StateCache, resolve_label

MAX_PAGE = 100


class ApprovalNeededError(PermissionDeniedError):
    """A label move needs a second person's approval (four-eyes): a change request is open."""

    code = "approval_needed"


@dataclass(frozen=True, slots=True)
class Facade:
    """What the facade needs besides the caller: the context, the state cache, the name of
    our production label, and how long a change request it opens stays open."""

    ctx: Context
    cache: StateCache
    production: str
    ttl: timedelta


def project_of(who: Principal) -> str:
    """The one project a facade caller's key acts on (instance keys are refused)."""
    if who.project is None:
        raise PermissionDeniedError(
            "the Langfuse API acts on one project: use a project key pair "
            "(promptstage key create --langfuse), not an instance key",
            field="authorization",
        )
    return who.project


def authorize(who: Principal, needed: Role) -> str:
    """The caller's project, once its key holds ``needed`` there (before a body is read)."""
    project = project_of(who)
    check(who, project, needed)
    return project


def _labels(f: Facade, project: str, name: str) -> dict[str, int]:
    return f.cache.read(project).state.prompt_labels.get(name, {})


def get_prompt(
    f: Facade,
    who: Principal,
    name: str,
    *,
    label: str | None,
    version: int | None,
    unit: str | None,
) -> dict[str, Any]:
    """A version by number, or the one a label serves (``production`` when neither is given)."""
    project = project_of(who)
    check(who, project, Role.runtime)
    names.prompt_name(name)
    if version is not None and label is not None:
        raise InvalidInputError("give label or version, not both", field="version")
    prompt, labels = svc.get_prompt(f.ctx, project, name)
    if version is not None:
        found: Version = svc.get_version(f.ctx, project, name, version)
    else:
        ours = lf.label_in(label or lf.PRODUCTION, f.production)
        state = f.cache.read(project).state
        found = resolve_label(state, name, ours, unit, {}).version
    return lf.prompt_out(found, prompt.tags, lf.version_labels(found.number, labels, f.production))


def _move(
    f: Facade, who: Principal, project: str, name: str, labels: list[str], number: int, why: str
) -> None:
    """Point each Langfuse label at ``number`` through the one door for label moves."""
    opened: list[str] = []
    for raw in labels:
        label = names.label_name(lf.label_in(raw, f.production), "labels")
        current = _labels(f, project, name).get(label)
        if current == number:
            continue
        result = governance.propose_move(
            f.ctx,
            who,
            project,
            name,
            label,
            number,
            expected_version=current,
            expect_absent=current is None,
            reason=why,
            ttl=f.ttl,
        )
        if isinstance(result, governance.Opened):
            opened.append(f"{raw!r} (change request {result.change_request.id})")
    if opened:
        raise ApprovalNeededError(
            f"approval needed: moving {', '.join(opened)} to version {number} of {name!r} needs "
            "a second person (four-eyes); ask a releaser to approve it "
            "(promptstage change approve ID, or the UI); nothing else was left undone",
            field="labels",
        )


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"{field} must be a list of strings", field=field)
    return list(value)


def create_prompt(f: Facade, who: Principal, body: Any) -> dict[str, Any]:
    """A new version of ``body.name`` (the prompt is created with its first one), then labels."""
    project = project_of(who)
    check(who, project, Role.editor)
    if not isinstance(body, dict):
        raise InvalidInputError("body must be a JSON object", field="body")
    name = names.prompt_name(body.get("name"), "name")
    type_ = body.get("type") or "text"
    if type_ not in ("text", "chat"):
        raise InvalidInputError(f"type must be 'text' or 'chat', got {type_!r}", field="type")
    labels = _strings(body.get("labels"), "labels")
    tags = body.get("tags")
    message = body.get("commitMessage")
    placeholders: list[dict[str, Any]] = []
    template: Any
    if type_ == "chat":
        template, placeholders = lf.messages_in(body.get("prompt"))
    else:
        template = body.get("prompt")
        if not isinstance(template, str):
            raise InvalidInputError("prompt of a text prompt must be a string", field="prompt")
    config = lf.config_in(body.get("config"), placeholders)
    actor = who.actor
    try:
        existing, _ = svc.get_prompt(f.ctx, project, name)
    except NotFoundError:
        existing = None
    if existing is None:
        _, written = lifecycle.create_with_version(
            f.ctx, actor, project, name, type_, None, _strings(tags, "tags"),
            {"template": template, "config": config, "message": message},
        )  # fmt: skip
    else:
        if existing.type != type_:
            raise ConflictError(
                f"prompt {name!r} is a {existing.type} prompt; send type {existing.type!r}",
                field="type",
            )
        if tags is not None and tuple(_strings(tags, "tags")) != existing.tags:
            lifecycle.update_prompt(f.ctx, actor, project, name, tags=_strings(tags, "tags"))
        written = svc.write_checked(
            f.ctx, actor, project, name, template=template, config=config, message=message
        )
    number = written.version.number
    _move(f, who, project, name, [x for x in labels if x != lf.LATEST], number, "langfuse create")
    return get_prompt(f, who, name, label=None, version=number, unit=None)


def update_labels(f: Facade, who: Principal, name: str, version: int, body: Any) -> dict[str, Any]:
    """``PATCH .../versions/{version}``: point each of ``newLabels`` at the version."""
    project = project_of(who)
    check(who, project, Role.editor)
    names.prompt_name(name)
    new = _strings(body.get("newLabels") if isinstance(body, dict) else None, "newLabels")
    if lf.LATEST in new:
        raise InvalidInputError(
            "'latest' always points at the highest version and cannot be set", field="newLabels"
        )
    svc.get_version(f.ctx, project, name, version)  # 404 before any move
    _move(f, who, project, name, new, version, "langfuse update labels")
    return get_prompt(f, who, name, label=None, version=version, unit=None)


def delete_prompt(
    f: Facade, who: Principal, name: str, *, label: str | None, version: int | None
) -> None:
    """``DELETE``: promptstage never deletes a version (they are immutable and audited); a
    whole prompt is archived instead (it leaves lists and snapshots; ``unarchive`` undoes it)."""
    project = project_of(who)
    check(who, project, Role.editor)
    if label is not None or version is not None:
        raise ConflictError(
            "promptstage never deletes a version: move or remove its labels instead "
            "(PATCH .../versions/N with newLabels), or DELETE the prompt without label and "
            "version to archive it",
            field="version" if version is not None else "label",
        )
    lifecycle.archive_prompt(f.ctx, who.actor, project, name)


def _all_prompts(ctx: Context, project: str) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    while True:
        page, cursor = svc.list_prompts(ctx, project, 500, cursor)
        out.extend(page)
        if cursor is None:
            return out


def _all_versions(ctx: Context, project: str, name: str) -> list[Version]:
    out: list[Version] = []
    cursor: str | None = None
    while True:
        page, cursor = svc.list_versions(ctx, project, name, 500, cursor)
        out.extend(page)
        if cursor is None:
            return sorted(out, key=lambda v: v.number)


def list_prompts(
    f: Facade,
    who: Principal,
    *,
    name: str | None,
    label: str | None,
    tag: str | None,
    page: int,
    limit: int,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    """``{data, meta}``: each prompt's versions, labels, tags and last config, paged."""
    project = project_of(who)
    check(who, project, Role.runtime)
    if page < 1 or not 1 <= limit <= MAX_PAGE:
        raise InvalidInputError(f"page must be >= 1 and limit 1-{MAX_PAGE}", field="limit")
    rows = []
    state = f.cache.read(project).state
    for prompt in _all_prompts(f.ctx, project):
        if (name is not None and prompt.name != name) or (
            tag is not None and tag not in prompt.tags
        ):
            continue
        versions = [
            v
            for v in _all_versions(f.ctx, project, prompt.name)
            if (since is None or v.created_at >= since) and (until is None or v.created_at < until)
        ]
        held = state.prompt_labels.get(prompt.name, {})
        shown = sorted(
            {
                lf.label_out(x, f.production)
                for x, n in held.items()
                if any(v.number == n for v in versions)
            }
        )
        if not versions or (label is not None and label not in shown):
            continue
        last = versions[-1]
        rows.append(
            {
                "name": prompt.name,
                "type": prompt.type,
                "versions": [v.number for v in versions],
                "labels": shown,
                "tags": list(prompt.tags),
                "lastUpdatedAt": last.created_at.isoformat().replace("+00:00", "Z"),
                "lastConfig": lf.config_out(last.config),
            }
        )
    total = len(rows)
    return {
        "data": rows[(page - 1) * limit : page * limit],
        "meta": {
            "page": page,
            "limit": limit,
            "totalItems": total,
            "totalPages": math.ceil(total / limit),
        },
    }


def projects(who: Principal) -> dict[str, Any]:
    """``GET /api/public/projects``: the key's project (what ``auth_check()`` reads)."""
    project = project_of(who)
    return {
        "data": [
            {
                "id": project,
                "name": project,
                "organization": {"id": "promptstage", "name": "promptstage"},
                "metadata": {},
            }
        ]
    }
