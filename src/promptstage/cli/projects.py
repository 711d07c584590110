"""``promptstage project``: create and list projects (creating one needs the instance admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import print_json, say, table
from .state import get_state

app = typer.Typer(help="Create and list projects.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name: lowercase letters, digits and '-'.")],
    description: Annotated[str | None, typer.Option("--description", "-d", help="What the project is for.")] = None,
) -> None:
    """Create a project (needs the instance admin key)."""
    state = get_state(ctx)
    body: dict[str, str] = {"name": name}
    if description is not None:
        body["description"] = description
    response = state.client().post("/api/v1/projects", body)
    if state.json_output:
        print_json(response.body)
        return
    say(f"created project {response.get('name', name)}", style="green")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the projects this API key can see."""
    state = get_state(ctx)
    response = state.client().get("/api/v1/projects")
    if state.json_output:
        print_json(response.body)
        return
    items = response.get("items", [])
    table(
        ["name", "description", "created"],
        ([p.get("name"), p.get("description"), p.get("created_at")] for p in items),
        title="projects",
    )
