"""``promptstage change``: list, approve and reject four-eyes change requests."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .output import more, print_json, say, table
from .state import get_state, quote

app = typer.Typer(help="Four-eyes change requests: list, approve, reject.", no_args_is_help=True)

Reason = Annotated[str | None, typer.Option("--reason", help="Why; kept in the audit trail.")]
RequestId = Annotated[
    str, typer.Argument(help="Change request id (cr_...), from `promptstage change list`.")
]


def say_request(body: dict[str, Any]) -> None:
    """Report a 202 answer: the change request that a protected change opened."""
    cr = body["change_request"]
    if cr["kind"] == "project.settings":
        after = cr["params"]["after"]
        labels = ", ".join(after["protected_labels"]) or "(none)"
        say(
            f"four-eyes: this weakens governance, so it opened change request {cr['id']} "
            f"(protected labels: {labels}; four-eyes: {'on' if after['four_eyes'] else 'off'}); "
            f"another admin runs `promptstage change approve {cr['id']}`",
            style="yellow",
        )
        return
    say(
        f"four-eyes: opened change request {cr['id']} ({cr['kind']} {cr['prompt']}:{cr['label']} -> "
        f"version {cr['version']}); another releaser runs `promptstage change approve {cr['id']}`",
        style="yellow",
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    state_filter: Annotated[
        str | None, typer.Option("--state", help="open, approved, rejected or expired.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, help="How many, newest first.")
    ] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="next_cursor of the previous page.")
    ] = None,
) -> None:
    """List the project's change requests, newest first."""
    state = get_state(ctx)
    params: dict[str, Any] = {"limit": limit}
    if state_filter is not None:
        params["state"] = state_filter
    if cursor is not None:
        params["cursor"] = cursor
    response = state.client().get(state.project_path("/change-requests"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["id", "kind", "prompt", "label", "version", "state", "requested by", "expires", "reason"],
        (
            [
                c["id"],
                c["kind"],
                c["prompt"],
                c["label"],
                c["version"],
                c["state"],
                c["requested_by"],
                c["expires_at"],
                c["reason"],
            ]
            for c in response.get("items", [])
        ),
        title="change requests",
    )
    more(response.get("next_cursor"))


def _decide(
    ctx: typer.Context, request_id: str, decision: str, reason: str | None
) -> dict[str, Any]:
    state = get_state(ctx)
    body = {"reason": reason} if reason is not None else {}
    response = state.client().post(
        state.project_path(f"/change-requests/{quote(request_id)}/{decision}"), body
    )
    if state.json_output:
        print_json(response.body)
    result: dict[str, Any] = response.body
    return result


@app.command("approve")
def approve(ctx: typer.Context, request_id: RequestId, reason: Reason = None) -> None:
    """Approve a change request and apply it (needs a releaser other than its requester)."""
    body = _decide(ctx, request_id, "approve", reason)
    if not get_state(ctx).json_output:
        cr, applied = body["change_request"], body.get("applied", {})
        what = (
            f"release {applied['release_id']} started"
            if "release_id" in applied
            else (f"{cr['label']} -> version {cr['version']}")
        )
        say(f"approved {cr['id']}: {what}", style="green")


@app.command("reject")
def reject(ctx: typer.Context, request_id: RequestId, reason: Reason = None) -> None:
    """Reject a change request (needs a releaser other than its requester); nothing changes."""
    body = _decide(ctx, request_id, "reject", reason)
    if not get_state(ctx).json_output:
        say(f"rejected {body['change_request']['id']}")
