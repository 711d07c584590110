"""``promptstage user``: people who sign in to the admin UI, and their roles (admin)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .output import fail, print_json, say, table
from .state import CliState, get_state, quote

app = typer.Typer(
    help="Create the people who sign in to the admin UI, set their passwords and roles.",
    no_args_is_help=True,
)

ROLES = ("editor", "releaser", "admin")

Project = Annotated[
    str | None, typer.Option("--project", "-p", help="Project (default: the global --project).")
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (scripts)."
    ),
]


def _check_role(value: str) -> str:
    """Refuse a role nobody signs in with, listing the ones people may hold."""
    if value == "runtime":
        raise typer.BadParameter(
            f"'runtime' is for SDK keys and cannot sign in; choose one of {', '.join(ROLES)}"
        )
    if value not in ROLES:
        raise typer.BadParameter(f"{value!r} is not a role; choose one of {', '.join(ROLES)}")
    return value


Role = Annotated[
    str,
    typer.Option(
        "--role", "-r", callback=_check_role, help=f"One of {', '.join(ROLES)}.", show_default=False
    ),
]


def _state(ctx: typer.Context, project: str | None) -> CliState:
    state = get_state(ctx)
    if project:
        state.project_name = project
    return state


def _password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            fail("--password-stdin: stdin held no password")
        return line
    typed: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return typed


def _users(state: CliState, suffix: str = "") -> str:
    return state.project_path(f"/users{suffix}")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The person's name, e.g. 'erin'.")],
    role: Role,
    project: Project = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user with a password and a role in the project (she already in another
    project? use `user grant`)."""
    state = _state(ctx, project)
    path = _users(state)
    secret = _password(password_stdin)
    response = state.client().post(path, {"name": name, "role": role, "password": secret})
    if state.json_output:
        print_json(response.body)
        return
    say(f"created user {name} ({response.get('role', role)}) in {state.project}", style="green")


@app.command("passwd")
def passwd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user whose password to set.")],
    project: Project = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a user's password; she is signed out everywhere."""
    state = _state(ctx, project)
    path = _users(state, f"/{quote(name)}/password")
    response = state.client().put(path, {"password": _password(password_stdin)})
    if state.json_output:
        print_json(response.body)
        return
    say(f"password of {name} changed; her sessions were signed out", style="green")


@app.command("list")
def list_(ctx: typer.Context, project: Project = None) -> None:
    """List the people who may sign in to the project, with their roles."""
    state = _state(ctx, project)
    response = state.client().get(_users(state))
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["name", "role", "password", "since"],
        (
            [
                u.get("name"),
                u.get("role"),
                "set" if u.get("has_password") else "none",
                u.get("created_at"),
            ]
            for u in response.get("items", [])
        ),
        title=f"users of {state.project}",
    )


@app.command("grant")
def grant(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An existing user.")],
    role: Role,
    project: Project = None,
) -> None:
    """Give an existing user a role in the project (or change hers)."""
    state = _state(ctx, project)
    response = state.client().put(_users(state, f"/{quote(name)}/role"), {"role": role})
    if state.json_output:
        print_json(response.body)
        return
    say(f"{name} is now {response.get('role', role)} in {state.project}", style="green")


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user to remove from the project.")],
    project: Project = None,
) -> None:
    """Take away a user's role in the project (her open sessions lose it at once)."""
    state = _state(ctx, project)
    response = state.client().delete(_users(state, f"/{quote(name)}"))
    if state.json_output:
        print_json(response.body)
        return
    say(f"{name} has no role in {state.project} any more", style="green")
