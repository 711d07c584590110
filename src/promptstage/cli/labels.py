"""``promptstage label``: move (with compare-and-set), roll back, inspect and remove labels."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .change import say_request
from .gate import OverrideGate, override_body
from .output import more, print_json, say, table
from .state import CliState, get_state, quote

app = typer.Typer(help="Move, roll back, inspect and remove labels.", no_args_is_help=True)

Prompt = Annotated[str, typer.Argument(help="Prompt name.")]
Label = Annotated[str, typer.Argument(help="Label name, e.g. prod, staging, canary.")]
Reason = Annotated[
    str | None, typer.Option("--reason", help="Why; kept in the label history and the audit trail.")
]


def say_move(label: str, body: dict[str, Any]) -> None:
    """Report a ``PUT .../labels/{label}`` answer: moved (from where) or already there."""
    if "change_request" in body:
        say_request(body)
        return
    move = body.get("move") or {}
    if body.get("changed"):
        previous = move.get("previous")
        was = f" (was {previous})" if previous is not None else " (new label)"
        say(f"{label} -> version {body.get('version')}{was}", style="green")
        if body.get("bypass") == "break_glass":
            say(
                f"break-glass: {label} is protected (four-eyes) and was moved with the instance "
                "admin key without an approval; the audit row is flagged break_glass",
                style="bold yellow",
            )
    else:
        say(f"{label} already at version {body.get('version')} (unchanged)")


def current_version(state: CliState, prompt: str, label: str) -> int | None:
    """The version ``label`` of ``prompt`` points at now (``None``: no such label yet)."""
    labels = state.client().get(state.prompt_path(prompt)).get("labels") or {}
    found = labels.get(label)
    return found if isinstance(found, int) else None


def replacing(label: str, current: int | None, version: int) -> str:
    """What a move of ``label`` to ``version`` replaces, in words."""
    now = "does not exist yet" if current is None else f"points at version {current}"
    return f"{label} {now}; moving it to version {version} only if that still holds"


def _expected(value: str | None) -> str | None:
    """Accept a version number or ``none`` for ``--expected``."""
    if value is None or value == "none" or (value.isdigit() and int(value) >= 1):
        return value
    raise typer.BadParameter(
        "expected a version number (>= 1), or 'none' when the label must not exist yet"
    )


@app.command("set")
def set_(
    ctx: typer.Context,
    prompt: Prompt,
    label: Label,
    version: Annotated[int, typer.Argument(min=1, help="Version to point the label at.")],
    expected: Annotated[
        str | None,
        typer.Option(
            "--expected",
            metavar="N|none",
            callback=_expected,
            help="Compare-and-set: only move if the label points at N now ('none': does not "
            "exist yet). Default: the version it points at when the command reads it.",
        ),
    ] = None,
    reason: Reason = None,
    override_gate: OverrideGate = None,
) -> None:
    """Move LABEL of PROMPT to VERSION, only if it still points where it did (compare-and-set).

    Without --expected, the label's current version is read first and sent as the
    precondition (protected labels require one); fails with exit 1 if it moved meanwhile.
    """
    state = get_state(ctx)
    body: dict[str, Any] = {"version": version}
    if expected is None:
        body["expected_version"] = current_version(state, prompt, label)
        if not state.json_output:
            say(replacing(label, body["expected_version"], version))
    else:
        body["expected_version"] = None if expected == "none" else int(expected)
    if reason is not None:
        body["reason"] = reason
    body.update(override_body(override_gate))
    response = state.client().put(state.prompt_path(prompt, f"/labels/{quote(label)}"), body)
    if state.json_output:
        print_json(response.body)
        return
    say_move(label, response.body)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    prompt: Prompt,
    label: Label,
    to: Annotated[
        int | None,
        typer.Option(
            "--to", min=1, help="Version to go back to (default: the one before the last move)."
        ),
    ] = None,
    reason: Reason = None,
) -> None:
    """Move LABEL back to where it pointed before its last move (or to --to N)."""
    state = get_state(ctx)
    body: dict[str, Any] = {}
    if to is not None:
        body["to_version"] = to
    if reason is not None:
        body["reason"] = reason
    response = state.client().post(
        state.prompt_path(prompt, f"/labels/{quote(label)}/rollback"), body
    )
    if state.json_output:
        print_json(response.body)
        return
    say(
        f"{label} rolled back to version {response.get('version')} (was {response.get('previous')})",
        style="green",
    )


@app.command("history")
def history(
    ctx: typer.Context,
    prompt: Prompt,
    label: Label,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to fetch.")] = None,
) -> None:
    """Every move of LABEL, newest first."""
    state = get_state(ctx)
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    response = state.client().get(
        state.prompt_path(prompt, f"/labels/{quote(label)}/history"), params=params
    )
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["at", "kind", "version", "previous", "actor", "reason"],
        (
            [
                m.get("at"),
                m.get("kind"),
                m.get("version"),
                m.get("previous"),
                m.get("actor"),
                m.get("reason"),
            ]
            for m in response.get("items", [])
        ),
        title=f"history of {prompt}:{label}",
    )
    more(response.get("next_cursor"))


@app.command("delete")
def delete(ctx: typer.Context, prompt: Prompt, label: Label, reason: Reason = None) -> None:
    """Remove LABEL from PROMPT (runtimes asking for it get a 404 from then on)."""
    state = get_state(ctx)
    response = state.client().delete(
        state.prompt_path(prompt, f"/labels/{quote(label)}"),
        params={"reason": reason} if reason else None,
    )
    if state.json_output:
        print_json(response.body)
        return
    say(f"removed label {label} of {prompt}", style="green")
