"""``promptstage key``: API keys of a project (needs an admin key)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from promptstage.domain.langfuse import key_pair

from .output import print_json, say, table, warn
from .state import get_state, quote

app = typer.Typer(
    help="Create, list, rotate and revoke API keys of the project.", no_args_is_help=True
)

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
    principal: Annotated[
        str | None,
        typer.Option(
            "--principal",
            "-P",
            help="The person or service account the key is for (promptstage principal create).",
        ),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option("--expires-at", help="When the key stops working, e.g. 2026-06-30T00:00Z."),
    ] = None,
    langfuse: Annotated[
        bool,
        typer.Option(
            "--langfuse",
            help="Also print the key as a Langfuse public/secret key pair (for the Langfuse "
            "SDK against /api/public/; docs/langfuse.md).",
        ),
    ] = False,
) -> None:
    """Create an API key; its token is printed once and never again."""
    state = get_state(ctx)
    body: dict[str, str] = {"role": role}
    for field, value in (("name", name), ("principal", principal), ("expires_at", expires_at)):
        if value is not None:
            body[field] = value
    response = state.client().post(state.project_path("/keys"), body)
    pair = key_pair(str(response.get("token"))) if langfuse else None
    if state.json_output:
        extra = (
            {} if pair is None else {"langfuse_public_key": pair[0], "langfuse_secret_key": pair[1]}
        )
        print_json({**response.body, **extra})
        return
    label = f" {response.get('name')!r}" if response.get("name") else ""
    say(
        f"created {response.get('role', role)} key {response.get('prefix')}{label} for "
        f"{response.get('principal')} in {state.project}{_until(response.body)}",
        style="green",
    )
    _show_token(response.body)
    if pair is not None:
        say("as a Langfuse key pair (the same key; set these for the Langfuse SDK):")
        say(f"LANGFUSE_PUBLIC_KEY={pair[0]}", style="bold")
        say(f"LANGFUSE_SECRET_KEY={pair[1]}", style="bold")
        say(f"LANGFUSE_BASE_URL={state.url}")


def _until(key: dict[str, Any]) -> str:
    """`` (expires …)`` for a key that expires, else nothing."""
    return f" (expires {key['expires_at']})" if key.get("expires_at") else ""


def _show_token(key: dict[str, Any]) -> None:
    """Print a new key's token, once, with the warning that goes with it."""
    say(str(key.get("token")), style="bold")
    warn("this token is shown only once: store it now (e.g. as PROMPTSTAGE_API_KEY)")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix (the part after 'ps_').")],
    grace_seconds: Annotated[
        int | None,
        typer.Option(
            "--grace-seconds",
            help="How long the old key keeps working (default 3600; 0 revokes it at once).",
        ),
    ] = None,
) -> None:
    """Issue a successor key (same principal and role); the old one stops after the grace."""
    state = get_state(ctx)
    bare = prefix.removeprefix("ps_").split("_", 1)[0]
    body: dict[str, Any] = {} if grace_seconds is None else {"grace_seconds": grace_seconds}
    response = state.client().post(state.project_path(f"/keys/{quote(bare)}/rotate"), body)
    if state.json_output:
        print_json(response.body)
        return
    old = response.get("previous") or {}
    ends = old.get("revoked_at") or old.get("expires_at")
    say(
        f"rotated key {bare}: successor {response.get('prefix')} for {response.get('principal')}"
        f"{_until(response.body)}; {bare} stops working at {ends}",
        style="green",
    )
    _show_token(response.body)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List the project's API keys (never their secrets)."""
    state = get_state(ctx)
    response = state.client().get(state.project_path("/keys"))
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["prefix", "name", "principal", "role", "created", "by", "expires", "revoked"],
        (
            [
                k.get("prefix"),
                k.get("name"),
                k.get("principal"),
                k.get("role"),
                k.get("created_at"),
                k.get("created_by"),
                k.get("expires_at"),
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
