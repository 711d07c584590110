"""``promptstage prompt``: create, list, show, push versions, compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from .gate import say_gate, say_warnings
from .http import ApiResponse
from .labels import say_move
from .output import console, fail, fields, more, print_json, say, short_digest, table
from .promptfile import PromptFileError, load_prompt_file
from .state import get_state, quote

app = typer.Typer(help="Create, list, show, push and compare prompts.", no_args_is_help=True)

Limit = Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")]
Cursor = Annotated[
    str | None, typer.Option("--cursor", help="Page to fetch (from a previous answer).")
]


def _page(limit: int, cursor: str | None) -> dict[str, str | int]:
    """The ``limit``/``cursor`` query of a list request."""
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    return params


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name; dots group prompts (booking.system).")],
    type_: Annotated[str, typer.Option("--type", "-t", help="text or chat.", show_default=False)],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="What the prompt does.")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag; repeat for several.")
    ] = None,
) -> None:
    """Create an empty prompt (push a file to write its first version)."""
    if type_ not in ("text", "chat"):
        fail(f"--type must be text or chat, not {type_!r}")
    state = get_state(ctx)
    body: dict[str, Any] = {"name": name, "type": type_}
    if description is not None:
        body["description"] = description
    if tag:
        body["tags"] = tag
    response = state.client().post(state.project_path("/prompts"), body)
    if state.json_output:
        print_json(response.body)
        return
    say(f"created prompt {response.get('name', name)} ({type_}) in {state.project}", style="green")


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Limit = 100,
    cursor: Cursor = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="List the archived prompts instead.")
    ] = False,
) -> None:
    """List the project's prompts (archived ones only with --archived)."""
    state = get_state(ctx)
    params = _page(limit, cursor)
    if archived:
        params["archived"] = "true"
    response = state.client().get(state.project_path("/prompts"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["name", "type", "latest", "tags", "description"],
        (
            [
                p.get("name"),
                p.get("type"),
                p.get("latest_version"),
                ", ".join(p.get("tags") or []),
                p.get("description"),
            ]
            for p in response.get("items", [])
        ),
        title=f"prompts of {state.project}",
    )
    more(response.get("next_cursor"))


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    version: Annotated[
        int | None,
        typer.Option("--version", "-v", min=1, help="Show this version (default: the latest)."),
    ] = None,
) -> None:
    """Show a prompt: its labels and a summary of a version (the latest by default), with its
    evaluation gate status per gated label.

    With --json: {"prompt": <GET prompts/NAME>, "latest": <GET prompts/NAME/versions/N> or null}.
    """
    state = get_state(ctx)
    client = state.client()
    prompt = client.get(state.prompt_path(name)).body
    latest_number = version or prompt.get("latest_version")
    latest = (
        client.get(state.prompt_path(name, f"/versions/{latest_number}")).body
        if latest_number
        else None
    )
    if state.json_output:
        print_json({"prompt": prompt, "latest": latest})
        return
    fields(
        [
            ("type", prompt.get("type")),
            ("description", prompt.get("description")),
            ("tags", ", ".join(prompt.get("tags") or [])),
            ("created", prompt.get("created_at")),
            ("latest", latest_number),
        ],
        title=f"{prompt.get('name', name)}",
    )
    labels: dict[str, Any] = prompt.get("labels") or {}
    table(["label", "version"], sorted(labels.items()), title="labels")
    if latest is None:
        say("no versions yet: write one with `promptstage prompt push FILE`", style="dim")
        return
    config: dict[str, Any] = latest.get("config") or {}
    model = config.get("model") or {}
    tools = [t.get("name") for t in config.get("tools") or [] if isinstance(t, dict)]
    fields(
        [
            ("digest", latest.get("digest")),
            (
                "model",
                "/".join(str(model.get(k, "?")) for k in ("provider", "name", "version"))
                if model
                else None,
            ),
            ("params", config.get("params")),
            ("tools", ", ".join(str(t) for t in tools)),
            ("retrieval", config.get("retrieval")),
            ("postprocess", config.get("postprocess")),
            ("author", latest.get("author")),
            ("message", latest.get("message")),
            ("created", latest.get("created_at")),
        ],
        title=f"version {latest_number}" + ("" if version else " (latest)"),
    )
    say_gate(latest)


@app.command("versions")
def versions(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> None:
    """List a prompt's versions, newest first."""
    state = get_state(ctx)
    response = state.client().get(state.prompt_path(name, "/versions"), params=_page(limit, cursor))
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["version", "digest", "model", "author", "message", "created"],
        (
            [
                v.get("version"),
                short_digest(v.get("digest")),
                _model((v.get("config") or {}).get("model")),
                v.get("author"),
                v.get("message"),
                v.get("created_at"),
            ]
            for v in response.get("items", [])
        ),
        title=f"versions of {name}",
    )
    more(response.get("next_cursor"))


def _model(model: Any) -> str | None:
    """``provider/name/version`` of a config's model, or ``None``."""
    if not isinstance(model, dict):
        return None
    return "/".join(str(model.get(k, "?")) for k in ("provider", "name", "version"))


@app.command("diff")
def diff(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    from_: Annotated[int, typer.Argument(metavar="FROM", min=1, help="Old version.")],
    to: Annotated[int, typer.Argument(metavar="TO", min=1, help="New version.")],
) -> None:
    """Show what changed between two versions: template diff, variables and config."""
    state = get_state(ctx)
    response = state.client().get(
        state.prompt_path(name, "/diff"), params={"from": from_, "to": to}
    )
    if state.json_output:
        print_json(response.body)
        return
    result: dict[str, Any] = response.body
    out = console()
    if result.get("type_changed"):
        say("the prompt type changed", style="yellow")
    template = str(result.get("template") or "")
    if template:
        for line in template.splitlines():
            out.print(Text(line, style=_diff_style(line)), soft_wrap=True)
    else:
        say("template: unchanged", style="dim")
    for part in ("variables", "config"):
        rows = result.get(part) or []
        if rows:
            table(
                ["field", "change", "from", "to"],
                ([r.get("field"), r.get("change"), r.get("from"), r.get("to")] for r in rows),
                title=part,
            )
        else:
            say(f"{part}: unchanged", style="dim")


def _diff_style(line: str) -> str:
    """The color of one unified-diff line."""
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return ""


@app.command("push")
def push(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A .toml or .json prompt file.", show_default=False)],
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="Commit message (also the label move's reason)."),
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="Move this label to the version.")
    ] = None,
) -> None:
    """Write the version in FILE, creating the prompt if needed; idempotent.

    With --json: {"prompt_created": true/false, "version": <POST versions answer>,
    "label": <PUT labels/L answer> or null}.
    """
    try:
        spec = load_prompt_file(file)
    except PromptFileError as exc:
        fail(str(exc))
    state = get_state(ctx)
    client = state.client()
    existing = client.get(state.prompt_path(spec.name), allow={404})
    created_prompt = False
    written = None
    if existing.status == 404:
        # One request creates the prompt and writes its first version: both or neither, so a
        # refused version leaves no empty prompt behind.
        both = {**spec.prompt_body(), "version": spec.version_body(message)}
        made = client.post(state.project_path("/prompts"), both, allow={409})
        if made.status != 409:
            created_prompt = True
            written = ApiResponse(201, made.body["version"])
        else:  # created by someone else meanwhile
            existing = client.get(state.prompt_path(spec.name))
    if written is None:
        if existing.get("type") != spec.type:
            fail(
                f"prompt {spec.name} is a {existing.get('type')} prompt but {file} says "
                f"type = {spec.type!r}"
            )
        written = client.post(state.prompt_path(spec.name, "/versions"), spec.version_body(message))
    number = written.get("version")
    moved = None
    if label is not None:
        # Compare-and-set against the label as read above (protected labels require it).
        labels = existing.get("labels") or {}
        body: dict[str, Any] = {"version": number, "expected_version": labels.get(label)}
        if message is not None:
            body["reason"] = message
        moved = client.put(state.prompt_path(spec.name, f"/labels/{quote(label)}"), body)
    if state.json_output:
        print_json(
            {
                "prompt_created": created_prompt,
                "version": written.body,
                "label": moved.body if moved else None,
            }
        )
        return
    if created_prompt:
        say(f"created prompt {spec.name} ({spec.type})", style="green")
    if written.status == 201:
        say(f"{spec.name}: version {number} (new) {written.get('digest')}", style="green")
    else:
        say(f"{spec.name}: version {number} (unchanged: same digest) {written.get('digest')}")
    say_warnings(written.body)
    if moved is not None and label is not None:
        say_move(label, moved.body)


@app.command("edit")
def edit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The prompt.", show_default=False)],
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="The new description.")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="A tag; repeat for several (replaces the old tags)."),
    ] = None,
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Remove every tag.")] = False,
) -> None:
    """Edit a prompt's description and tags (versions never change)."""
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    if tag:
        body["tags"] = tag
    elif no_tags:
        body["tags"] = []
    if not body:
        fail("nothing to change: give --description, --tag or --no-tags")
    state = get_state(ctx)
    answer = state.client().request("PATCH", state.prompt_path(name), body=body)
    if state.json_output:
        print_json(answer.body)
        return
    tags = ", ".join(answer.get("tags") or []) or "none"
    say(f"{name}: description {answer.get('description')!r}, tags {tags}", style="green")


@app.command("archive")
def archive(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The prompt.", show_default=False)]
) -> None:
    """Archive a prompt: it leaves lists and snapshots (SDKs drop it). Refused while a label
    other than latest serves it; unarchive brings it back."""
    state = get_state(ctx)
    answer = state.client().post(state.prompt_path(name, "/archive"))
    if state.json_output:
        print_json(answer.body)
        return
    say(f"archived prompt {name} (promptstage prompt unarchive {name} brings it back)")


@app.command("unarchive")
def unarchive(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The prompt.", show_default=False)]
) -> None:
    """Bring an archived prompt back to lists and snapshots."""
    state = get_state(ctx)
    answer = state.client().post(state.prompt_path(name, "/unarchive"))
    if state.json_output:
        print_json(answer.body)
        return
    say(f"unarchived prompt {name}", style="green")
