"""Promote (move a label, or ask for approval) and one-click rollback.

``GET .../promote?label=L&version=N`` shows what the move changes and what will happen (a move,
or a change request where four-eyes applies); its form carries the version the label served
when the page was rendered (``expected``), so a move made meanwhile is refused, never
overwritten. ``GET .../labels/L/rollback`` confirms a rollback (a page, or a ``<dialog>``
fragment for htmx); the POST rolls back and shows how many connected SDK clients have it.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain import names
from promptstage.domain.models import Role
from promptstage.errors import (
    GateRefusedError,
    InvalidInputError,
    NotFoundError,
    VersionMismatchError,
)
from promptstage.service import (
    eval_actions,
    event_stream,
    governance,
    governance_reads,
    labels,
    prompts,
)

from ..session import Viewer, Writer, acting, config
from ..templating import is_htmx, redirect, render

router = APIRouter()
PROMPT = "/p/{project}/prompts/{name}"


def _q(value: str) -> str:
    return quote(value, safe="")


def _url(project: str, name: str) -> str:
    return f"/ui/p/{_q(project)}/prompts/{_q(name)}"


def _int(raw: str | None, field: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise InvalidInputError(f"{field} must be a version number, e.g. 3", field=field)
    return int(raw)


def _promote_state(
    request: Request, user: Any, project: str, name: str, label: str, version: int | None
) -> dict[str, Any]:
    """What the promote page shows for moving ``label`` to ``version``."""
    ctx = config(request).ctx
    who = acting(user, project)
    prompt, current_labels = prompts.get_prompt(ctx, project, name)
    movable = {k: v for k, v in current_labels.items() if k != names.LATEST}
    target = version or prompt.latest_version
    state: dict[str, Any] = {
        "prompt": prompt,
        "labels": movable,
        "label": label,
        "version": target,
        "current": None,
        "diff": None,
        "refusal": None,
        "second_person": False,
        "versions": prompts.list_versions(ctx, project, name, limit=100)[0],
        "gate": None,
        "is_admin": who.role.allows(Role.admin),
    }
    if not label:
        return state
    names.label_name(label)
    prompts.get_version(ctx, project, name, target)
    current = movable.get(label)
    state["current"] = current
    if current is not None and current != target:
        state["diff"] = prompts.diff(ctx, project, name, current, target)
    state["refusal"] = governance_reads.label_refusal(ctx, who, project, label)
    state["second_person"] = governance_reads.needs_second_person(ctx, who, project, label)
    state["gate"] = eval_actions.label_gate(ctx, project, name, target, label)
    return state


@router.get(PROMPT + "/promote")
def promote_page(
    request: Request,
    user: Viewer,
    project: str,
    name: str,
    label: str = "",
    new_label: str = "",
    version: str | None = None,
) -> Response:
    chosen = new_label.strip() or label.strip()
    state = _promote_state(request, user, project, name, chosen, _int(version, "version"))
    return render(request, "promote.html", project=project, nav="overview", name=name, **state)


@router.post(PROMPT + "/promote")
async def promote(
    request: Request,
    user: Writer,
    project: str,
    name: str,
    label: Annotated[str, Form(max_length=200)],
    version: Annotated[str, Form(max_length=20)],
    expected: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    override_gate: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ui = config(request)
    who = acting(user, project)
    number = _int(version, "version")
    if number is None:
        raise InvalidInputError("version is required: pick the version to serve", field="version")
    expected_version = _int(expected, "expected")

    def move() -> Any:
        return governance.propose_move(
            ui.ctx,
            who,
            project,
            name,
            label,
            number,
            expected_version=expected_version,
            expect_absent=expected_version is None,
            reason=reason or None,
            ttl=ui.change_request_ttl,
            override_gate=override_gate.strip() or None,
        )

    try:
        outcome = await run_in_threadpool(move)
    except GateRefusedError as exc:
        state = await run_in_threadpool(_promote_state, request, user, project, name, label, number)
        state["gate"] = {
            "allowed": False,
            "reasons": exc.details.get("reasons", [exc.message]),
            "verdicts": exc.details.get("verdicts", []),
        }
        return render(
            request,
            "promote.html",
            status_code=409,
            project=project,
            nav="overview",
            name=name,
            gate_refused=exc.message,
            **state,
        )
    except VersionMismatchError as exc:
        state = await run_in_threadpool(_promote_state, request, user, project, name, label, number)
        return render(
            request,
            "promote.html",
            status_code=409,
            project=project,
            nav="overview",
            name=name,
            stale=exc.message,
            **state,
        )
    if isinstance(outcome, governance.Opened):
        request_id = outcome.change_request.id
        return redirect(
            request,
            f"/ui/p/{_q(project)}/approvals/{_q(request_id)}",
            notice=f"Label {label} is protected by four-eyes: change request {request_id} is "
            "open; another releaser must approve it before the label moves.",
        )
    moved = outcome.value
    notice = (
        f"Label {label} now serves version {number}."
        if moved is not None
        else f"Label {label} already served version {number}: nothing changed."
    )
    return redirect(request, _url(project, name), notice=notice)


def _rollback_state(
    request: Request, user: Any, project: str, name: str, label: str
) -> dict[str, Any]:
    ctx = config(request).ctx
    who = acting(user, project)
    _, current_labels = prompts.get_prompt(ctx, project, name)
    current = current_labels.get(label) if label != names.LATEST else None
    if current is None:
        raise NotFoundError(f"prompt {name!r} has no label {label!r} to roll back", field="label")
    history, _ = labels.label_history(ctx, project, name, label, limit=5)
    previous = history[0].previous if history else None
    return {
        "label": label,
        "current": current,
        "previous": previous,
        "history": history,
        "refusal": governance_reads.label_refusal(ctx, who, project, label),
    }


@router.get(PROMPT + "/labels/{label}/rollback")
def rollback_page(request: Request, user: Viewer, project: str, name: str, label: str) -> Response:
    state = _rollback_state(request, user, project, name, label)
    template = "_rollback_dialog.html" if is_htmx(request) else "rollback.html"
    return render(request, template, project=project, nav="overview", name=name, **state)


@router.post(PROMPT + "/labels/{label}/rollback")
async def rollback(
    request: Request,
    user: Writer,
    project: str,
    name: str,
    label: str,
    to_version: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ctx = config(request).ctx
    who = acting(user, project)
    target = _int(to_version, "to_version")

    def roll_back() -> int:
        governance.roll_back_label(
            ctx, who, project, name, label, to_version=target, reason=reason or None
        )
        return event_stream.current_seq(ctx, project)

    seq = await run_in_threadpool(roll_back)
    return redirect(
        request,
        f"{_url(project, name)}/labels/{_q(label)}/rollback/result?seq={seq}",
        notice=f"Label {label} was rolled back.",
    )


def _propagation(request: Request, user: Any, project: str, name: str, label: str, seq: int) -> Any:
    ctx = config(request).ctx
    acting(user, project)
    _, current_labels = prompts.get_prompt(ctx, project, name)
    return current_labels.get(label), event_stream.propagation(ctx, project, seq)


@router.get(PROMPT + "/labels/{label}/rollback/result")
def rollback_result(
    request: Request, user: Viewer, project: str, name: str, label: str, seq: int = 0
) -> Response:
    version, reach = _propagation(request, user, project, name, label, seq)
    return render(
        request,
        "rollback_result.html",
        project=project,
        nav="overview",
        name=name,
        label=label,
        version=version,
        reach=reach,
        seq=seq,
    )


@router.get(PROMPT + "/labels/{label}/rollback/propagation")
def rollback_propagation(
    request: Request, user: Viewer, project: str, name: str, label: str, seq: int = 0
) -> Response:
    """The fragment the result page polls: how many connected clients have the rollback."""
    version, reach = _propagation(request, user, project, name, label, seq)
    return render(
        request,
        "_rollback_propagation.html",
        project=project,
        name=name,
        label=label,
        version=version,
        reach=reach,
        seq=seq,
    )
