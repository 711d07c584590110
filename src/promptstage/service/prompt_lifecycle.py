"""A prompt's life apart from its versions: created with its first version in one
transaction, its description and tags edited, archived and unarchived.

An archived prompt leaves the prompt lists and the runtime snapshot (SDKs drop it on
``prompt.archived``); its versions, labels history and audit rows stay. Nothing is written to
or moved on it until it is unarchived. Archiving a prompt that a label other than ``latest``
serves is refused (409 naming the labels): move or delete them first.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from promptstage.domain import names
from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.models import PROMPT_TYPES, Prompt
from promptstage.domain.wire import prompt_json
from promptstage.errors import ConflictError, InvalidInputError

from .context import Context, change
from .dep_refs import resolve_config
from .prompts import (
    Written,
    add_prompt_in,
    check_tags,
    require_prompt,
    short_text,
    write_in,
)

_UNSET: Any = object()


def create_with_version(
    ctx: Context,
    actor: str,
    project: str,
    name: str,
    type_: str,
    description: str | None,
    tags: list[str] | None,
    first_version: dict[str, Any],
) -> tuple[Prompt, Written]:
    """Create a prompt and write its first version (``template``, ``variables``, ``config``,
    ``message``) in one transaction: both are stored or neither is, so a failed
    ``prompt push`` leaves nothing behind.

    Raises:
        ConflictError: the prompt exists.
        InvalidInputError: the prompt or its first version is invalid (nothing is stored).
    """
    names.prompt_name(name)
    if type_ not in PROMPT_TYPES:
        raise InvalidInputError(
            f"type must be one of {list(PROMPT_TYPES)}, got {type_!r}", field="type"
        )
    desc = short_text(description, "description")
    tag_tuple = check_tags(tags)
    msg = short_text(first_version.get("message"), "version.message")
    with change(ctx, project, actor) as ch:
        config = resolve_config(ch.uow, project, first_version.get("config"))
        prompt = add_prompt_in(ch, Prompt(project, name, type_, desc, tag_tuple, ch.at))
        written = write_in(
            ch, name, first_version.get("template"), first_version.get("variables"), config, msg
        )
    return dataclasses.replace(prompt, latest_version=written.version.number), written


def update_prompt(
    ctx: Context,
    actor: str,
    project: str,
    name: str,
    *,
    description: str | None = _UNSET,
    tags: list[str] | None = _UNSET,
) -> Prompt:
    """Replace a prompt's description and/or tags (what is not given stays).

    Raises:
        NotFoundError: no such prompt.
        InvalidInputError: the description or tags are invalid.
    """
    with change(ctx, project, actor) as ch:
        before = require_prompt(ch.uow, project, name)
        after = dataclasses.replace(
            before,
            description=before.description
            if description is _UNSET
            else short_text(description, "description"),
            tags=before.tags if tags is _UNSET else check_tags(tags),
        )
        if after == before:
            return before
        ch.uow.set_prompt(after)
        ch.record(
            AuditAction.PROMPT_UPDATE,
            f"prompt:{name}",
            before={"description": before.description, "tags": list(before.tags)},
            after={"description": after.description, "tags": list(after.tags)},
        )
    return after


def archive_prompt(ctx: Context, actor: str, project: str, name: str) -> Prompt:
    """Archive a prompt: it leaves lists and snapshots; SDKs drop it.

    Idempotent: archiving an archived prompt changes nothing.

    Raises:
        NotFoundError: no such prompt.
        ConflictError: a label other than ``latest`` serves it (the message names them).
    """
    with change(ctx, project, actor) as ch:
        before = require_prompt(ch.uow, project, name)
        if before.archived_at is not None:
            return before
        serving = sorted(ch.uow.get_labels(project, name))
        if serving:
            shown = ", ".join(serving)
            raise ConflictError(
                f"prompt {name!r} is served by label(s) {shown}; delete them first "
                f"(promptstage label delete {name} LABEL) so nothing resolves an archived prompt",
                field="labels",
                labels=serving,
            )
        after = dataclasses.replace(before, archived_at=ch.at)
        ch.uow.set_prompt(after)
        ch.record(
            AuditAction.PROMPT_ARCHIVE,
            f"prompt:{name}",
            before=prompt_json(before),
            after=prompt_json(after),
            event=outbox_event(EventType.PROMPT_ARCHIVED, {"prompt": name}),
        )
    return after


def unarchive_prompt(ctx: Context, actor: str, project: str, name: str) -> Prompt:
    """Bring an archived prompt back to lists and snapshots (idempotent).

    Raises:
        NotFoundError: no such prompt.
    """
    with change(ctx, project, actor) as ch:
        before = require_prompt(ch.uow, project, name)
        if before.archived_at is None:
            return before
        after = dataclasses.replace(before, archived_at=None)
        ch.uow.set_prompt(after)
        ch.record(
            AuditAction.PROMPT_UNARCHIVE,
            f"prompt:{name}",
            before=prompt_json(before),
            after=prompt_json(after),
            event=outbox_event(EventType.PROMPT_UNARCHIVED, {"prompt": name}),
        )
    return after
