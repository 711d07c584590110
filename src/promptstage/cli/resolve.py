"""``promptstage resolve``: ask the server which version a unit gets, optionally rendered."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .output import fail, fields, print_json, print_messages, say
from .state import get_state

RESERVED = frozenset({"label", "unit", "render"})


def _pairs(values: list[str] | None, option: str) -> list[tuple[str, str]]:
    """Split ``key=value`` option values at the first ``=``; exit on a malformed one."""
    pairs: list[tuple[str, str]] = []
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(f"{option} {item!r}: expected key=value")
        pairs.append((key, value))
    return pairs


def resolve(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    label: Annotated[str, typer.Option("--label", "-l", help="Label to resolve.")] = "prod",
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="Stickiness key (user or conversation id).")
    ] = None,
    ctx_attr: Annotated[
        list[str] | None,
        typer.Option(
            "--ctx",
            metavar="KEY=VALUE",
            help="Context attribute for targeting; repeat for several.",
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="NAME=VALUE",
            help="Template variable (with --render); repeat for several.",
        ),
    ] = None,
    render: Annotated[
        bool, typer.Option("--render", help="Render the template with the --var values.")
    ] = False,
) -> None:
    """Resolve LABEL of PROMPT for a unit and context, as the runtime would."""
    attributes = _pairs(ctx_attr, "--ctx")
    variables = _pairs(var, "--var")
    for key, _ in attributes:
        if key in RESERVED or key.startswith("var."):
            fail(f"--ctx {key}=...: {key!r} is reserved; use --label, --unit or --var instead")
    if variables and not render:
        fail("--var only applies with --render")
    state = get_state(ctx)
    params: list[tuple[str, str | int]] = [("label", label)]
    if unit is not None:
        params.append(("unit", unit))
    if render:
        params.append(("render", "true"))
    params.extend(attributes)
    params.extend((f"var.{name}", value) for name, value in variables)
    response = state.client().get(state.prompt_path(prompt, "/resolve"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    body: dict[str, Any] = response.body
    model = (body.get("config") or {}).get("model") or {}
    fields(
        [
            ("version", body.get("version")),
            ("digest", body.get("digest")),
            ("arm", body.get("arm")),
            ("release", body.get("release_id")),
            ("unitless", body.get("unitless")),
            (
                "model",
                "/".join(str(model.get(k, "?")) for k in ("provider", "name", "version"))
                if model
                else None,
            ),
        ],
        title=f"{prompt}:{label}",
    )
    if render:
        say("rendered:", style="bold")
        print_messages(body.get("rendered"))
