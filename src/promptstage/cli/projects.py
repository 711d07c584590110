"""``promptstage project``: create and list projects (creating one needs the instance admin key),
and show or change a project's protected labels and four-eyes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .change import say_request
from .output import print_json, say, table
from .state import get_state

app = typer.Typer(help="Create and list projects.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Project name: lowercase letters, digits and '-'.")],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What the project is for.")
    ] = None,
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


@app.command("settings")
def settings(
    ctx: typer.Context,
    protect: Annotated[
        list[str] | None,
        typer.Option(
            "--protect",
            help="A label that needs a releaser (repeat; replaces the list). Default: prod.",
        ),
    ] = None,
    four_eyes: Annotated[
        bool | None,
        typer.Option(
            "--four-eyes/--no-four-eyes",
            help="Moves and releases of protected labels need a second releaser.",
        ),
    ] = None,
    max_key_days: Annotated[
        int | None,
        typer.Option(
            "--max-key-days",
            help="The longest a person's key may live, in days (0: no limit).",
        ),
    ] = None,
) -> None:
    """Show the project's protected labels and four-eyes; change them with options (admin)."""
    state = get_state(ctx)
    path = state.project_path("/settings")
    current: dict[str, Any] = state.client().get(path).body
    if protect is not None or four_eyes is not None or max_key_days is not None:
        lifetime = current.get("max_key_lifetime_days") if max_key_days is None else max_key_days
        wanted = {
            "protected_labels": list(protect)
            if protect is not None
            else current["protected_labels"],
            "four_eyes": four_eyes if four_eyes is not None else current["four_eyes"],
            "max_key_lifetime_days": lifetime or None,
        }
        current = state.client().put(path, wanted).body
    if state.json_output:
        print_json(current)
        return
    if "change_request" in current:  # a weakening under four-eyes waits for another admin
        say_request(current)
        return
    labels = ", ".join(current["protected_labels"]) or "(none)"
    days = current.get("max_key_lifetime_days")
    say(
        f"protected labels: {labels}; four-eyes: {'on' if current['four_eyes'] else 'off'}; "
        f"max key lifetime: {f'{days} days' if days else 'none'}"
    )
