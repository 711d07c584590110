"""``promptstage principal``: the people and service accounts keys are issued to (admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import print_json, say, table
from .state import get_state

app = typer.Typer(
    help="Create and list the principals (people, service accounts) keys are issued to.",
    no_args_is_help=True,
)

KINDS = ("person", "service")


def _check_kind(value: str) -> str:
    """Refuse a kind the server does not know, listing the ones it does."""
    if value not in KINDS:
        raise typer.BadParameter(f"{value!r} is not a kind; choose one of {', '.join(KINDS)}")
    return value


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. 'alice' or 'booking-agent'.")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "-k",
            callback=_check_kind,
            help="person (may approve others' changes) or service (never approves).",
        ),
    ] = "person",
) -> None:
    """Create a principal; then issue keys to it with `key create --principal NAME`."""
    state = get_state(ctx)
    response = state.client().post(state.project_path("/principals"), {"name": name, "kind": kind})
    if state.json_output:
        print_json(response.body)
        return
    say(f"created {response.get('kind', kind)} {response.get('name', name)} in {state.project}")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the project's principals."""
    state = get_state(ctx)
    response = state.client().get(state.project_path("/principals"))
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["name", "kind", "created", "by"],
        (
            [p.get("name"), p.get("kind"), p.get("created_at"), p.get("created_by")]
            for p in response.get("items", [])
        ),
        title=f"principals of {state.project}",
    )
