"""Releases: start a canary, ramp or A/B test; the releases list; the live release panel and its
actions. Policy (roles, four-eyes, states) is in ``service/``; this module shapes forms."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from promptstage.domain.models import Role
from promptstage.domain.releases import STATES
from promptstage.errors import ConflictError, GateRefusedError, InvalidInputError, NotFoundError
from promptstage.service import eval_actions, governance, prompts, release_reads
from promptstage.service import releases as svc
from promptstage.service.keys import Principal
from promptstage.ui import rulebuilder as rb

from ..release_panel import panel_values
from ..session import Viewer, Writer, acting, config
from ..templating import is_htmx, redirect, render

router = APIRouter()

STRATEGY_DEFAULTS = {"canary": "5", "ramp": "5, 25, 50, 100", "ab": "50"}
PAGE = 25
FORM_FIELDS = frozenset(
    {"label", "candidate_version", "steps", "strategy", "min_duration", "unit_attribute",
     "guardrails", "reason", "targeting", "targeting_json"}
)  # fmt: skip


def _base(project: str, *parts: str) -> str:
    return "/ui/p/" + "/".join(quote(p, safe="") for p in (project, *parts))


def _percent_steps(text: str, strategy: str, minutes: str, units: str) -> list[Any]:
    """Percent text (``5, 25, 50, 100``) to step objects; errors name ``steps``."""
    try:
        duration = float(minutes) * 60
        min_units = int(units)
    except ValueError:
        raise InvalidInputError(
            "min_duration and min_units must be numbers (minutes, units per arm)",
            field="min_duration",
        ) from None
    out: list[Any] = []
    for chunk in text.replace("%", "").split(","):
        if not chunk.strip():
            continue
        try:
            percent = float(chunk)
            if not math.isfinite(percent):
                raise ValueError(chunk)
        except ValueError:
            raise InvalidInputError(
                f"steps: {chunk.strip()!r} is not a percentage; write e.g. 5, 25, 50, 100",
                field="steps",
            ) from None
        out.append(
            {
                "weight_bps": round(percent * 100),
                "min_duration_seconds": duration,
                "min_units": min_units,
            }
        )
    if not out:
        raise InvalidInputError(f"steps: give the {strategy}'s percentage", field="steps")
    return out


def _form_state(form: dict[str, Any]) -> dict[str, Any]:
    strategy = form.get("strategy") or "canary"
    if strategy not in STRATEGY_DEFAULTS:
        strategy = "canary"
    return {
        "label": form.get("label", ""),
        "version": form.get("version", ""),
        "strategy": strategy,
        "percent": {s: form.get(f"percent_{s}", d) for s, d in STRATEGY_DEFAULTS.items()},
        "min_duration": form.get("min_duration", "60"),
        "min_units": form.get("min_units", "100"),
        "unit_attribute": form.get("unit_attribute", "user_id"),
        "guards": list(form.get("guard", [])),
        "tolerance": {k[4:]: v for k, v in form.items() if k.startswith("tol:")},
        "auto_rollback": (
            form.get("auto_rollback") == "on" if "auto_rollback_sent" in form else True
        ),
        "on_insufficient_data": form.get("on_insufficient_data", "rollback"),
        "reason": form.get("reason", ""),
        "targeting_source": form.get("targeting_source", "builder"),
        "override_gate": form.get("override_gate", ""),
    }


async def _read_form(request: Request) -> dict[str, Any]:
    raw = await request.form()
    out: dict[str, Any] = {}
    for key, value in raw.multi_items():
        if not isinstance(value, str):
            continue
        if key == "guard":
            out.setdefault("guard", []).append(value)
        else:
            out[key] = value
    return out


def _targeting(form: dict[str, Any], state: dict[str, Any]) -> tuple[rb.Group, str | None]:
    """The rule group of the form: from the builder, or from the JSON textarea."""
    if state["targeting_source"] == "json":
        text = str(form.get("targeting_json", "")).strip()
        if not text:
            return rb.Group(), None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            return rb.from_form(form), f"targeting_json: not JSON ({exc.msg} at line {exc.lineno})"
        if not isinstance(parsed, dict):
            return rb.from_form(
                form
            ), 'targeting_json: must be a rule group {"combinator", "rules"}'
        return rb.from_json(parsed), None
    return rb.from_form(form), None


def _fields(state: dict[str, Any], group: rb.Group, name: str) -> dict[str, Any]:
    """The ``propose_release`` fields of the form."""
    try:
        version = int(str(state["version"]))
    except ValueError:
        raise InvalidInputError(
            "candidate_version: write the version number to release", field="candidate_version"
        ) from None
    strategy = state["strategy"]
    guards: list[dict[str, Any]] | None = None
    if state["guards"]:
        guards = []
        for metric in state["guards"]:
            item: dict[str, Any] = {"metric": metric}
            tol = str(state["tolerance"].get(metric, "")).strip()
            if tol:
                try:
                    item["tolerance"] = float(tol)
                except ValueError:
                    raise InvalidInputError(
                        f"tolerance of {metric} must be a number (0 = any harm counts)",
                        field=f"tol:{metric}",
                    ) from None
            guards.append(item)
    fields: dict[str, Any] = {
        "prompt": name,
        "label": state["label"],
        "candidate_version": version,
        "strategy": strategy,
        "steps": _percent_steps(
            state["percent"][strategy], strategy, state["min_duration"], state["min_units"]
        ),
        "unit_attribute": state["unit_attribute"] or None,
        "guardrails": guards,
        "auto_rollback": state["auto_rollback"],
        "on_insufficient_data": state["on_insufficient_data"],
        "reason": state["reason"] or None,
    }
    if not rb.is_empty(group):
        fields["targeting"] = rb.to_json(group)
    return fields


def _render_form(
    request: Request,
    who: Principal,
    project: str,
    name: str,
    state: dict[str, Any],
    group: rb.Group,
    *,
    errors: dict[str, str] | None = None,
    preview: release_reads.MatchPreview | None = None,
    status_code: int = 200,
    gate: dict[str, Any] | None = None,
) -> Response:
    ctx = config(request).ctx
    prompt, labels = prompts.get_prompt(ctx, project, name)
    version = str(state["version"]).strip()
    if gate is None and state["label"] and version.isdigit():
        try:
            gate = eval_actions.label_gate(ctx, project, name, int(version), state["label"])
        except NotFoundError:
            gate = None
    choices = release_reads.metric_choices(ctx, who, project, name)
    return render(
        request,
        "release_new.html",
        status_code=status_code,
        project=project,
        nav="releases",
        prompt=prompt,
        labels=labels,
        state=state,
        group=group,
        targeting_json=rb.dumps(group),
        operators=rb.OPERATOR_CHOICES,
        choices=choices,
        errors=errors or {},
        preview=preview,
        can_start=who.role.allows(Role.releaser),
        gate=gate,
        is_admin=who.role.allows(Role.admin),
        action=_base(project, "prompts", name, "releases", "new"),
    )


@router.get("/p/{project}/prompts/{name}/releases/new")
def new_release(
    request: Request, project: str, name: str, user: Viewer, label: str = "", version: str = ""
) -> Response:
    who = acting(user, project)
    state = _form_state({"label": label, "version": version})
    if not state["label"]:
        _, labels = prompts.get_prompt(config(request).ctx, project, name)
        state["label"] = next(iter(sorted(labels)), "")
    return _render_form(request, who, project, name, state, rb.Group())


@router.post("/p/{project}/prompts/{name}/releases/new")
async def post_release(request: Request, project: str, name: str, user: Writer) -> Response:
    who = acting(user, project)
    form = await _read_form(request)
    state = _form_state(form)
    group, json_error = _targeting(form, state)
    op = str(form.get("op", "refresh"))
    errors: dict[str, str] = {}
    status = 422
    if json_error:
        errors["targeting_json"] = json_error
    preview = None
    gate = None
    ctx = config(request).ctx
    if op.startswith(("add-rule:", "add-group:", "remove:")):
        group = rb.apply(group, op)
    elif op == "preview" and not errors:
        try:
            preview = await _threaded(
                release_reads.preview_targeting, ctx, who, project, name, rb.to_json(group)
            )
        except InvalidInputError as exc:
            errors[rb.field_of(exc.field) or "targeting_json"] = exc.message
    elif op == "start" and not errors:
        try:
            fields = _fields(state, group, name)
            outcome = await _threaded(
                release_reads.start,
                ctx,
                who,
                project,
                fields,
                ttl=config(request).change_request_ttl,
                override_gate=state["override_gate"].strip() or None,
            )
        except GateRefusedError as exc:
            errors["form"] = exc.message
            status = exc.status_code
            gate = {
                "allowed": False,
                "reasons": exc.details.get("reasons", [exc.message]),
                "verdicts": exc.details.get("verdicts", []),
            }
        except (InvalidInputError, NotFoundError, ConflictError) as exc:
            # Shown next to the field it names (a refusal of the role stays an error page).
            key = rb.field_of(exc.field) or (exc.field or "form").split(".")[0].split("[")[0]
            shown = key in FORM_FIELDS or key.startswith(("r:", "g:", "tol:"))
            errors[key if shown else "form"] = exc.message
            status = exc.status_code
        else:
            if isinstance(outcome, governance.Opened):
                cr = outcome.change_request
                return redirect(
                    request,
                    _base(project, "approvals", cr.id),
                    notice="four-eyes: a change request was opened; another releaser must approve it",
                )
            release = outcome.value
            return redirect(
                request, _base(project, "releases", release.id), notice="release started"
            )
    state["targeting_source"] = "builder"
    page: Response = await _threaded(
        _render_form,
        request,
        who,
        project,
        name,
        state,
        group,
        errors=errors,
        preview=preview,
        status_code=status if errors else 200,
        gate=gate,
    )
    return page


async def _threaded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(fn, *args, **kwargs)


@router.get("/p/{project}/releases")
def list_releases(
    request: Request,
    project: str,
    user: Viewer,
    state: str = "",
    prompt: str = "",
    cursor: str | None = None,
) -> Response:
    acting(user, project)
    ctx = config(request).ctx
    active: list[Any] = []
    if not state and not cursor:
        active, _ = svc.list_releases(ctx, project, state="active", prompt=prompt or None)
    items, next_cursor = svc.list_releases(
        ctx, project, state=state or None, prompt=prompt or None, limit=PAGE, cursor=cursor
    )
    if not state:
        items = [r for r in items if not r.active]
    next_url = None
    if next_cursor:
        query = {k: v for k, v in (("state", state), ("prompt", prompt)) if v}
        next_url = f"{_base(project, 'releases')}?{urlencode({**query, 'cursor': next_cursor})}"
    return render(
        request,
        "release_list.html",
        project=project,
        nav="releases",
        active=active,
        items=items,
        states=STATES,
        state=state,
        prompt_filter=prompt,
        next_url=next_url,
        first_url=_base(project, "releases") if cursor else None,
    )


@router.get("/p/{project}/releases/{release_id}")
def release_panel(request: Request, project: str, release_id: str, user: Viewer) -> Response:
    who = acting(user, project)
    values = panel_values(config(request).ctx, who, project, release_id)
    if is_htmx(request):
        # 286 tells htmx to stop polling: a final release no longer changes.
        status = 200 if values["live"] else 286
        return render(request, "_release_panel.html", status_code=status, project=project, **values)
    return render(request, "release_panel.html", project=project, nav="releases", **values)


@router.post("/p/{project}/releases/{release_id}/{action}")
async def release_action(
    request: Request, project: str, release_id: str, action: str, user: Writer
) -> Response:
    who = acting(user, project)
    form = await _read_form(request)
    if action not in svc.ACTIONS:
        raise InvalidInputError(
            f"unknown action {action!r}; one of {', '.join(svc.ACTIONS)}", field="action"
        )
    await _threaded(
        release_reads.perform,
        config(request).ctx,
        who,
        project,
        release_id,
        action,
        form.get("reason") or None,
    )
    return redirect(request, _base(project, "releases", release_id), notice=f"{action}: done")
