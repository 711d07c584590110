"""``promptstage audit``: read the audit trail and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import fail, fields, more, print_json, say, table
from .state import get_state

app = typer.Typer(help="Read and verify the project's tamper-evident audit trail.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to fetch.")] = None,
) -> None:
    """The audit trail, newest first."""
    state = get_state(ctx)
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    response = state.client().get(state.project_path("/audit"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["seq", "at", "actor", "action", "target", "reason"],
        (
            [a.get("seq"), a.get("at"), a.get("actor"), a.get("action"), a.get("target"), a.get("reason")]
            for a in response.get("items", [])
        ),
        title=f"audit trail of {state.project}",
    )
    more(response.get("next_cursor"))


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check the hash chain; exit 1 and name the first bad row when it is broken."""
    state = get_state(ctx)
    response = state.client().get(state.project_path("/audit/verify"))
    ok = bool(response.get("ok"))
    if state.json_output:
        print_json(response.body)
        if not ok:
            raise typer.Exit(1)
        return
    if ok:
        say(f"audit chain OK: {response.get('checked')} records checked", style="green")
        fields([("head", response.get("head"))])
        return
    fail(
        f"audit chain BROKEN at seq {response.get('first_bad_seq')}: {response.get('problem')} "
        f"({response.get('checked')} records verified before it)"
    )
