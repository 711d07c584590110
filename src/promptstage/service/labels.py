"""Labels: move (with compare-and-set), remove, history, rollback."""

from __future__ import annotations

from promptstage.domain import names
from promptstage.domain.events import AuditAction, EventType, outbox_event
from promptstage.domain.governance import ProjectSettings
from promptstage.domain.hints import label_not_found_message
from promptstage.domain.models import LabelMove
from promptstage.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    VersionMismatchError,
)

from .context import Change, Context, change, parse_reason
from .pagination import check_limit, decode_cursor, page
from .promotion import MoveTo, bypass_after, promote, roll_back
from .prompts import require_live_prompt, require_prompt, require_version
from .release_changes import end_active_release


def move_label(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    label: str,
    version: int,
    *,
    expected_version: int | None = None,
    expect_absent: bool = False,
    reason: str | None = None,
    bypass: str | None = None,
    settings_seen: ProjectSettings | None = None,
    override: str | None = None,
) -> LabelMove | None:
    """Point ``label`` at ``version``; ``None`` when it already pointed there (no new event).

    ``bypass`` names why a protected label under four-eyes moves without an approval
    (``"break_glass"``); it is written into the audit row's ``after`` as ``four_eyes_bypass``.
    ``override`` is an admin's reason to move despite the evaluation gate (the caller checked
    the role).

    Raises:
        VersionMismatchError: ``expected_version`` was given and the label points elsewhere.
    """
    names.label_name(label)
    why = parse_reason(reason)
    with change(ctx, project, actor, settings_seen=settings_seen) as ch:
        return move_in(
            ch, prompt, label, version, expected_version, expect_absent, why, bypass,
            override=override,
        )  # fmt: skip


def move_in(
    ch: Change,
    prompt: str,
    label: str,
    version: int,
    expected_version: int | None,
    expect_absent: bool,
    why: str,
    bypass: str | None = None,
    change_request: str | None = None,
    override: str | None = None,
) -> LabelMove | None:
    """``move_label`` inside the caller's transaction, through the promotion door.

    Also what an approval applies; ``change_request`` then names the approved request.
    """
    require_live_prompt(ch.uow, ch.project, prompt)
    _no_active_release(ch, prompt, label, "move")
    current = ch.uow.get_labels(ch.project, prompt).get(label)
    if (expected_version is not None or expect_absent) and current != expected_version:
        raise VersionMismatchError(
            f"label {label!r} points at {_show(current)}, not {_show(expected_version)}: someone "
            "moved it meanwhile; re-read it and retry with the current expected_version",
            field="expected_version",
            current_version=current,
        )
    target = require_version(ch.uow, ch.project, prompt, version)
    if current == version:
        return None
    return promote(
        ch, MoveTo(prompt, label, target, current, why, bypass, change_request, override=override)
    )


def _no_active_release(ch: Change, prompt: str, label: str, what: str) -> None:
    active = ch.uow.active_release(ch.project, prompt, label)
    if active is not None:
        raise ConflictError(
            f"label {label!r} has an active release ({active.id}, {active.state}); cannot {what} "
            "it by hand meanwhile: promote, roll back or abort the release first (or roll the "
            "label back, which also rolls the release back)",
            field="label",
            release_id=active.id,
        )


def _show(version: int | None) -> str:
    return "nothing" if version is None else f"version {version}"


def delete_label(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    label: str,
    reason: str | None = None,
    bypass: str | None = None,
    settings_seen: ProjectSettings | None = None,
) -> None:
    """Remove ``label``; ``bypass`` flags the audit row as in ``promotion.MoveTo``."""
    names.label_name(label)
    why = parse_reason(reason)
    with change(ctx, project, actor, settings_seen=settings_seen) as ch:
        found = require_prompt(ch.uow, project, prompt)
        _no_active_release(ch, prompt, label, "remove")
        held = ch.uow.get_labels(project, prompt)
        current = held.get(label)
        if current is None:
            raise NotFoundError(
                label_not_found_message(prompt, label, held, found.latest_version > 0),
                field="label",
            )
        ch.uow.delete_label(project, prompt, label)
        ch.uow.add_label_move(
            project, LabelMove(prompt, label, None, current, actor, why, ch.at, "delete")
        )
        ch.record(
            AuditAction.LABEL_DELETE,
            f"label:{prompt}/{label}",
            before={"version": current},
            after=None if bypass is None else bypass_after(None, bypass),
            reason=why,
            event=outbox_event(
                EventType.LABEL_DELETED, {"prompt": prompt, "label": label, "previous": current}
            ),
        )


def rollback_label(
    ctx: Context,
    actor: str,
    project: str,
    prompt: str,
    label: str,
    *,
    to_version: int | None = None,
    reason: str | None = None,
    bypass: str | None = None,
    settings_seen: ProjectSettings | None = None,
) -> LabelMove | None:
    """Move ``label`` back to where it pointed before its last move, or to ``to_version``.

    The ungated path (``promotion.roll_back``): a rollback never waits on the promotion gate.

    When the label has an active release, that release ends as ``rolled_back`` in the same
    transaction (its candidate gets 0 %). Without ``to_version`` that *is* the rollback: the
    label stays on the release's baseline and ``None`` is returned (no move). With
    ``to_version`` the label also moves there.
    """
    names.label_name(label)
    why = parse_reason(reason)
    with change(ctx, project, actor, settings_seen=settings_seen) as ch:
        found = require_prompt(ch.uow, project, prompt)
        held = ch.uow.get_labels(project, prompt)
        current = held.get(label)
        if current is None:
            raise NotFoundError(
                label_not_found_message(
                    prompt, label, held, found.latest_version > 0, " to roll back"
                ),
                field="label",
            )
        target = None
        if to_version is not None:
            target = require_version(ch.uow, project, prompt, to_version, "to_version")
        ended = end_active_release(ch, prompt, label, why)
        if ended is not None and (to_version is None or to_version == current):
            return None
        if to_version is None:
            history = ch.uow.label_history(project, prompt, label, limit=1, before=None)
            previous = history[0][1].previous if history else None
            if previous is None:
                raise InvalidInputError(
                    f"label {label!r} has no earlier version to roll back to; pass to_version",
                    field="to_version",
                )
            to_version = previous
        if to_version == current:
            raise InvalidInputError(
                f"label {label!r} already points at version {current}", field="to_version"
            )
        if target is None:
            target = require_version(ch.uow, project, prompt, to_version)
        return roll_back(ch, prompt, label, target, current, why, bypass)


def label_history(
    ctx: Context, project: str, prompt: str, label: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[LabelMove], str | None]:
    names.label_name(label, movable=False)
    check_limit(limit)
    before = decode_cursor(cursor, int)
    with ctx.store.unit_of_work() as uow:
        require_prompt(uow, project, prompt)
        rows = uow.label_history(project, prompt, label, limit=limit + 1, before=before)
    moves, next_cursor = page(rows, limit, lambda row: row[0])
    return [m for _, m in moves], next_cursor
