"""``promptstage key``: API keys of a project (needs an admin key)."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import print_json, say, table, warn
from .state import get_state, quote

app = typer.Typer(help="Create, list and revoke API keys of the project.", no_args_is_help=True)

ROLES = ("runtime", "editor", "releaser", "admin")


def _check_role(value: str) -> str:
    """Refuse a role the server does not know, listing the ones it does."""
    if value not in ROLES:
        raise typer.BadParameter(f"{value!r} is not a role; choose one of {', '.join(ROLES)}")
    return value


@app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[
        str,
        typer.Option(
            "--role",
            "-r",
            callback=_check_role,
            help=f"One of {', '.join(ROLES)}.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="A label for people, e.g. 'ci'.")
    ] = None,
) -> None:
    """Create an API key; its token is printed once and never again."""
    state = get_state(ctx)
    body: dict[str, str] = {"role": role}
    if name is not None:
        body["name"] = name
    response = state.client().post(state.project_path("/keys"), body)
    if state.json_output:
        print_json(response.body)
        return
    label = f" {response.get('name')!r}" if response.get("name") else ""
    say(
        f"created {response.get('role', role)} key {response.get('prefix')}{label} in {state.project}",
        style="green",
    )
    say(str(response.get("token")), style="bold")
    warn("this token is shown only once: store it now (e.g. as PROMPTSTAGE_API_KEY)")


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the project's API keys (never their secrets)."""
    state = get_state(ctx)
    response = state.client().get(state.project_path("/keys"))
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["prefix", "name", "role", "created", "by", "revoked"],
        (
            [
                k.get("prefix"),
                k.get("name"),
                k.get("role"),
                k.get("created_at"),
                k.get("created_by"),
                k.get("revoked_at"),
            ]
            for k in response.get("items", [])
        ),
        title=f"keys of {state.project}",
    )


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix (the part after 'ps_').")],
) -> None:
    """Revoke an API key; requests with it fail from now on."""
    state = get_state(ctx)
    bare = prefix.removeprefix("ps_").split("_", 1)[0]
    response = state.client().delete(state.project_path(f"/keys/{quote(bare)}"))
    if state.json_output:
        print_json(response.body)
        return
    say(f"revoked key {response.get('prefix', bare)} ({response.get('role')})", style="green")
