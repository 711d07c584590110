"""``promptstage calls``: read the call log, and replay a call with the exact version it used.

``replay`` needs no model: it re-renders the messages the call sent, locally, from the variables
the call logged and the version it used (``GET /calls/{id}`` returns both). The version's
content is checked against the digest the call recorded before anything is rendered.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from promptstage.domain.calls import ARMS
from promptstage.domain.canonical import version_digest
from promptstage.domain.template import CompiledTemplate
from promptstage.errors import PromptstageError

from .output import (
    fail,
    fields,
    more,
    print_json,
    print_messages,
    say,
    short_digest,
    table,
)
from .state import CliState, get_state, quote

app = typer.Typer(
    help="Read the call log; replay a call with the exact version it used.", no_args_is_help=True
)

CallId = Annotated[
    str, typer.Argument(help="The call id (Call.id in the SDK).", show_default=False)
]


def _since(value: str | None) -> str | None:
    """Accept an ISO-8601 time (``2026-11-26``, ``2026-11-26T17:00:00Z``) for ``--since``;
    a time without an offset is UTC. Sent as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            "expected an ISO-8601 time such as 2026-11-26 or 2026-11-26T17:00:00Z"
        ) from None
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _arm(value: str | None) -> str | None:
    if value is not None and value not in ARMS:
        raise typer.BadParameter(f"expected one of {', '.join(ARMS)}")
    return value


@app.command("list")
def list_(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Only calls of this prompt.")
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Only calls that used this version number."),
    ] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Only calls resolved by this release id.")
    ] = None,
    arm: Annotated[
        str | None,
        typer.Option("--arm", callback=_arm, help="Only this arm: baseline, canary or control."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            callback=_since,
            metavar="TIME",
            help="Only calls at or after this ISO-8601 time.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Page to fetch (from a previous answer).")
    ] = None,
) -> None:
    """The call log, newest first (needs an editor key)."""
    state = get_state(ctx)
    params: list[tuple[str, str | int]] = [("limit", limit)]
    for name, value in (
        ("prompt", prompt),
        ("version", version),
        ("release", release),
        ("arm", arm),
        ("since", since),
        ("cursor", cursor),
    ):
        if value is not None:
            params.append((name, value))
    response = state.client().get(state.project_path("/calls"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["id", "at", "prompt@version", "label", "arm", "release", "ms", "tokens", "error"],
        (
            [
                c.get("id"),
                c.get("at"),
                f"{c.get('prompt')}@{c.get('version')}",
                c.get("label"),
                c.get("arm"),
                c.get("release_id"),
                _ms(c.get("latency_ms")),
                _tokens(c.get("tokens_in"), c.get("tokens_out")),
                _short(c.get("error"), 40),
            ]
            for c in response.get("items", [])
        ),
        title=f"calls of {state.project}",
    )
    more(response.get("next_cursor"))


def _fetch(state: CliState, call_id: str) -> dict[str, Any]:
    body: dict[str, Any] = state.client().get(state.project_path(f"/calls/{quote(call_id)}")).body
    return body


@app.command("show")
def show(ctx: typer.Context, call_id: CallId) -> None:
    """One call with the exact version it used (model, digest, template) and its scores."""
    state = get_state(ctx)
    call = _fetch(state, call_id)
    if state.json_output:
        print_json(call)
        return
    fields(
        [
            ("at", call.get("at")),
            ("prompt", f"{call.get('prompt')}@{call.get('version')} (label {call.get('label')})"),
            ("digest", call.get("digest")),
            ("arm", call.get("arm")),
            ("release", call.get("release_id")),
            ("unit hash", call.get("unit_hash")),
            ("context", call.get("context")),
            ("variables", call.get("variables")),
            ("model reported", call.get("model")),
            ("latency ms", _ms(call.get("latency_ms"))),
            ("tokens in/out", _tokens(call.get("tokens_in"), call.get("tokens_out"))),
            ("cost", call.get("cost")),
            ("error", call.get("error")),
            ("output", call.get("output")),
        ],
        title=f"call {call.get('id', call_id)}",
    )
    version = call.get("version_data")
    if not isinstance(version, dict):
        say("the version this call used is no longer stored", style="yellow")
    else:
        config: dict[str, Any] = version.get("config") or {}
        model = config.get("model") or {}
        fields(
            [
                ("digest", version.get("digest")),
                (
                    "model",
                    "/".join(str(model.get(k, "?")) for k in ("provider", "name", "version"))
                    if model
                    else None,
                ),
                ("params", config.get("params")),
                (
                    "tools",
                    ", ".join(
                        str(t.get("name")) for t in config.get("tools") or [] if isinstance(t, dict)
                    ),
                ),
                ("retrieval", config.get("retrieval")),
                ("postprocess", config.get("postprocess")),
                ("author", version.get("author")),
                ("created", version.get("created_at")),
            ],
            title=f"version {version.get('version')} used",
        )
        say("template:", style="bold")
        print_messages(version.get("template"))
    scores = call.get("scores") or []
    table(
        ["name", "value", "source", "at"],
        ([s.get("name"), s.get("value"), s.get("source"), s.get("at")] for s in scores),
        title="scores",
    )


@app.command("replay")
def replay(ctx: typer.Context, call_id: CallId) -> None:
    """Re-render the exact messages a call sent, from its logged variables and version.

    With --json: the rendered messages (a list of {role, content}; a string for text prompts).
    """
    state = get_state(ctx)
    call = _fetch(state, call_id)
    rendered = _render(call)
    if state.json_output:
        print_json(rendered)
        return
    say(
        f"replay of call {call.get('id', call_id)}: {call.get('prompt')}@{call.get('version')} "
        f"({short_digest(call.get('digest'))}), arm {call.get('arm')}",
        style="bold",
    )
    print_messages(rendered)


def _render(call: dict[str, Any]) -> Any:
    """The call's messages, rendered locally; exits with the reason when that is impossible."""
    version = call.get("version_data")
    where = f"{call.get('prompt')}@{call.get('version')}"
    if not isinstance(version, dict):
        fail(f"cannot replay: the version the call used ({where}) is no longer stored")
    type_, template = version.get("type"), version.get("template")
    variables = version.get("variables") or []
    try:
        digest = version_digest(str(type_), template, variables, version.get("config") or {})
    except (TypeError, ValueError) as exc:
        fail(f"cannot replay: version {where} is malformed ({exc})")
    if digest != call.get("digest"):
        fail(
            f"cannot replay: version {where} hashes to {digest}, but the call recorded "
            f"{call.get('digest')}; the stored version is not the one the call used"
        )
    values = call.get("variables")
    if values is None:
        values = {}
        if any(v.get("required", True) for v in variables if isinstance(v, dict)):
            fail(
                "cannot replay: the call logged no variables (pass variables= to Client.call, "
                "and keep them in your redact hook, to make calls replayable)"
            )
    if isinstance(values, dict) and "_truncated" in values:
        fail(
            f"cannot replay: the call's variables were truncated when logged ({values['_truncated']})"
        )
    try:
        return CompiledTemplate(
            str(type_), template, variables, version.get("includes") or {}
        ).render(values)
    except PromptstageError as exc:
        fail(f"cannot replay call {call.get('id')}: {exc.message}")


def _ms(value: Any) -> str | None:
    return f"{value:.1f}" if isinstance(value, int | float) else None


def _tokens(tokens_in: Any, tokens_out: Any) -> str | None:
    if tokens_in is None and tokens_out is None:
        return None
    return f"{tokens_in if tokens_in is not None else '-'}/{tokens_out if tokens_out is not None else '-'}"


def _short(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
