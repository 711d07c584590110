"""``promptstage project``: create and list projects (creating one needs the instance admin key),
and show or change a project's protected labels, four-eyes and evaluation policies."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .change import say_request
from .gate import json_option
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
    gate_policy: Annotated[
        str | None,
        typer.Option(
            "--gate-policy",
            help='The evaluation gate per label as JSON or @file.json: {"labels": {"prod": '
            '{"suites": [{"suite": "builtin/security", "min_pass_rate": 1.0}]}}}; "null": the '
            "default. Loosening it waits for another admin under four-eyes.",
        ),
    ] = None,
    static_policy: Annotated[
        str | None,
        typer.Option(
            "--static-policy",
            help='Static check severities as JSON or @file.json, e.g. {"pii": "block"}; '
            '"null": the default (secrets, invisible and bidi characters block).',
        ),
    ] = None,
) -> None:
    """Show the project's protected labels, four-eyes and evaluation policies; change them
    with options (admin)."""
    state = get_state(ctx)
    path = state.project_path("/settings")
    current: dict[str, Any] = state.client().get(path).body
    policies: dict[str, Any] = {}
    if gate_policy is not None:
        policies["gate_policy"] = json_option(gate_policy, "--gate-policy")
    if static_policy is not None:
        policies["static_policy"] = json_option(static_policy, "--static-policy")
    if protect is not None or four_eyes is not None or max_key_days is not None or policies:
        lifetime = current.get("max_key_lifetime_days") if max_key_days is None else max_key_days
        wanted = {
            "protected_labels": list(protect)
            if protect is not None
            else current["protected_labels"],
            "four_eyes": four_eyes if four_eyes is not None else current["four_eyes"],
            "max_key_lifetime_days": lifetime or None,
            **policies,  # omitted: the server keeps them
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
    gate = current.get("gate_policy")
    say(
        f"gate policy: {json.dumps(gate) if gate is not None else 'default (prod: builtin/security at 100 %)'}"
    )
    static = current.get("static_policy")
    say(f"static checks: {json.dumps(static) if static is not None else 'default'}")
