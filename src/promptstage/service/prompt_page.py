"""The read model of the admin UI's prompt page and diff page.

The prompt page shows a prompt's versions (newest first, paginated), the dependency snapshot of
one selected version, the history of all its labels, and what the reader may do: write a new
version (editor), move or roll back each label (the label's role: ``access.label_role`` with
the project's protected labels), start a release (releaser). The server refuses these actions
again when they are sent; this only decides which controls are offered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from promptstage.domain import names
from promptstage.domain.config import Config
from promptstage.domain.diff import diff_versions
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.models import LabelMove, Prompt, Role, Version
from promptstage.domain.word_diff import Piece, side, word_diff
from promptstage.errors import PermissionDeniedError

from . import access
from .context import Context
from .keys import Principal
from .overview import Badge, order_labels, release_badge
from .pagination import decode_cursor, page
from .prompts import require_project, require_prompt, require_version

VERSIONS_PAGE: Final = 20
HISTORY_SIZE: Final = 50


@dataclass(frozen=True, slots=True)
class LabelState:
    """One label of the prompt and what the reader may do with it."""

    label: str
    version: int
    badge: Badge | None
    last_move: LabelMove | None
    protected: bool
    can_move: bool
    can_roll_back: bool


@dataclass(frozen=True, slots=True)
class PromptPage:
    prompt: Prompt
    labels: tuple[LabelState, ...]
    versions: tuple[Version, ...]
    labels_by_version: dict[int, tuple[str, ...]]
    next_cursor: str | None
    selected: Version | None
    config: Config | None
    history: tuple[LabelMove, ...]
    can_edit: bool
    can_release: bool


def _allows(who: Principal, project: str, role: Role) -> bool:
    try:
        access.check(who, project, role)
    except PermissionDeniedError:  # the control is not offered
        return False
    return True


def prompt_page(
    ctx: Context,
    who: Principal,
    project: str,
    name: str,
    *,
    version: int | None = None,
    cursor: str | None = None,
) -> PromptPage:
    """Everything the prompt page shows, read in one transaction.

    Raises:
        PermissionDeniedError: ``who`` may not read ``project``.
        NotFoundError: no such project, prompt or version.
        InvalidInputError: a bad cursor.
    """
    access.check(who, project, Role.editor)
    before = decode_cursor(cursor, int)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        prompt = require_prompt(uow, project, name)
        settings = uow.project_settings(project) or ProjectSettings()
        current = uow.get_labels(project, name)
        found = uow.list_versions(project, name, limit=VERSIONS_PAGE + 1, before=before)
        versions, next_cursor = page(found, VERSIONS_PAGE, lambda v: v.number)
        number = version if version is not None else prompt.latest_version
        selected = require_version(uow, project, name, number) if number else None
        moves = uow.last_label_moves(project, [name])
        releases = uow.latest_releases(project, [name])
        history = uow.prompt_moves(project, name, limit=HISTORY_SIZE, before=None)
    states = []
    for label in order_labels(current):
        move = moves.get((name, label))
        release = releases.get((name, label))
        may = _allows(who, project, access.label_role(settings, label))
        has_earlier = (move is not None and move.previous is not None) or bool(
            release and release.active
        )
        states.append(
            LabelState(
                label=label,
                version=current[label],
                badge=release_badge(release, move),
                last_move=move,
                protected=settings.protects(label),
                can_move=may,
                can_roll_back=may and has_earlier,
            )
        )
    by_version: dict[int, list[str]] = {}
    for label in order_labels(current):
        by_version.setdefault(current[label], []).append(label)
    if prompt.latest_version:
        by_version.setdefault(prompt.latest_version, []).append(names.LATEST)
    return PromptPage(
        prompt=prompt,
        labels=tuple(states),
        versions=tuple(versions),
        labels_by_version={k: tuple(v) for k, v in by_version.items()},
        next_cursor=next_cursor,
        selected=selected,
        config=Config.from_dict(selected.config) if selected else None,
        history=tuple(m for _, m in history),
        can_edit=_allows(who, project, Role.editor),
        can_release=_allows(who, project, Role.releaser),
    )


@dataclass(frozen=True, slots=True)
class Section:
    """One part of two versions compared: its name, both sides' pieces, whether it changed."""

    title: str
    old: list[Piece]
    new: list[Piece]
    changed: bool


@dataclass(frozen=True, slots=True)
class VersionDiff:
    prompt: Prompt
    old: Version
    new: Version
    template: Section
    config: tuple[Section, ...]
    changes: dict[str, Any]


CONFIG_PARTS: Final = (
    ("Model", "model"),
    ("Parameters", "params"),
    ("Tools", "tools"),
    ("Retrieval index", "retrieval"),
    ("Post-processing", "postprocess"),
    ("Metadata", "metadata"),
)


def template_text(version: Version) -> str:
    """A version's template as text: chat messages one after another under ``[role]``."""
    if version.type == "text":
        return str(version.template)
    return "\n\n".join(f"[{m.get('role', '')}]\n{m.get('content', '')}" for m in version.template)


def pretty(value: Any) -> str:
    """A config part as indented JSON (``none`` when absent)."""
    if value is None or value == {} or value == []:
        return "none"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _section(title: str, old: str, new: str) -> Section:
    pieces = word_diff(old, new)
    return Section(title, side(pieces, "old"), side(pieces, "new"), old != new)


def version_diff(
    ctx: Context, who: Principal, project: str, name: str, a: int, b: int
) -> VersionDiff:
    """Versions ``a`` and ``b`` compared: the template and each config part word by word, and
    the field-level changes of ``domain.diff``.

    Raises:
        PermissionDeniedError, NotFoundError: as :func:`prompt_page`; ``a`` or ``b`` unknown.
    """
    access.check(who, project, Role.editor)
    with ctx.store.unit_of_work() as uow:
        require_project(uow, project)
        prompt = require_prompt(uow, project, name)
        old = require_version(uow, project, name, a, "a")
        new = require_version(uow, project, name, b, "b")
    config = tuple(
        _section(title, pretty(old.config.get(key)), pretty(new.config.get(key)))
        for title, key in CONFIG_PARTS
    )
    return VersionDiff(
        prompt=prompt,
        old=old,
        new=new,
        template=_section("Template", template_text(old), template_text(new)),
        config=config,
        changes=diff_versions(old, new),
    )
