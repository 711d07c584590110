"""``promptstage deps``: the dependency catalog, impact queries, bumps, drift, deprecations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from promptstage.domain.deps import parse_spec
from promptstage.errors import InvalidInputError

from .output import fail, print_json, say, table, warn
from .state import get_state

app = typer.Typer(
    help="The dependency catalog: tools, indexes, models, rule sets; impact and bumps.",
    no_args_is_help=True,
)

Spec = Annotated[
    str,
    typer.Argument(
        metavar="KIND:NAME@VERSION",
        help="e.g. index:kb@8, tool:book_appointment@3, model:openai/gpt-4o@2024-08-06",
    ),
]


def _spec(text: str, versioned: bool | None) -> Any:
    try:
        return parse_spec(text, versioned=versioned)
    except InvalidInputError as exc:
        fail(exc.message)


def _labels(items: list[dict[str, Any]], title: str) -> None:
    table(
        ["prompt", "label", "version", "pins", "release"],
        ([u["prompt"], u["label"], u["version"], u["pinned"], u["release_id"] or ""]
         for u in items),
        title=title,
    )  # fmt: skip


def _body(raw: str | None) -> Any:
    if raw is None:
        return None
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"--body is not JSON ({exc}); pass a JSON object or @FILE")


@app.command("add")
def add(
    ctx: typer.Context,
    spec: Spec,
    body: Annotated[
        str | None,
        typer.Option(
            "--body",
            help="The entry's body as JSON or @FILE: tool {description, parameters}; index "
            "{document_count, built_at}; ruleset {description}",
        ),
    ] = None,
    documents: Annotated[
        int | None, typer.Option("--documents", min=0, help="Index: its document count.")
    ] = None,
    built_at: Annotated[
        str | None, typer.Option("--built-at", help="Index: when it was built (ISO-8601).")
    ] = None,
) -> None:
    """Register KIND:NAME@VERSION (immutable); lists the labels that pin another version."""
    state = get_state(ctx)
    ref = _spec(spec, True)
    payload = _body(body) or {}
    if documents is not None:
        payload["document_count"] = documents
    if built_at is not None:
        payload["built_at"] = built_at
    response = state.client().post(
        state.project_path("/deps"),
        {"kind": ref.kind.value, "name": ref.name, "version": ref.version, "body": payload},
    )
    if state.json_output:
        print_json(response.body)
        return
    done = "registered" if response.get("created") else "already registered (same content)"
    say(f"{response.get('ref')} {done} ({response.get('digest')})", style="green")
    stale = response.get("stale_labels") or []
    if stale:
        warn(f"{len(stale)} label(s) serve a version pinning another version of {ref.name}:")
        _labels(stale, f"labels not on {ref.version}")
        say(f"bump them: promptstage deps bump {ref.kind}:{ref.name} {ref.version} --label LABEL")


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--kind", help="tool, index, model or ruleset")
    ] = None,
) -> None:
    """Every catalog entry, by kind and name."""
    state = get_state(ctx)
    response = state.client().get(
        state.project_path("/deps"), params={"kind": kind} if kind else None
    )
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["dep", "digest", "retires on", "author", "created"],
        ([e["ref"], e["digest"][:19], e["retires_on"] or "", e["author"], e["created_at"]]
         for e in response.get("items", [])),
        title="dependency catalog",
    )  # fmt: skip


@app.command("impact")
def impact(
    ctx: typer.Context,
    spec: Annotated[str, typer.Argument(metavar="KIND:NAME[@VERSION]", help="e.g. index:kb@7")],
) -> None:
    """The prompt versions and live labels that pin KIND:NAME (at VERSION, or any)."""
    state = get_state(ctx)
    _spec(spec, None)
    response = state.client().get(state.project_path("/deps/impact"), params={"dep": spec})
    if state.json_output:
        print_json(response.body)
        return
    versions = response.get("versions", [])
    table(
        ["prompt", "version", "pins"],
        ([v["prompt"], v["version"], v["pinned"]] for v in versions),
        title=f"versions pinning {spec}",
    )
    _labels(response.get("labels", []), f"labels serving {spec}")


@app.command("bump")
def bump(
    ctx: typer.Context,
    dep: Annotated[str, typer.Argument(metavar="KIND:NAME", help="e.g. index:kb")],
    version: Annotated[str, typer.Argument(help="The catalog version to move to, e.g. 8.")],
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            help="Bump the prompts whose LABEL pins another version "
            "(default: each prompt's latest version).",
        ),
    ] = None,
) -> None:
    """Write one new version per affected prompt with only this dependency changed.

    The new versions are not promoted: move a label to them as usual (the evaluation gate
    applies).
    """
    state = get_state(ctx)
    target = _spec(f"{dep}@{version}", True)
    body: dict[str, Any] = {"dep": str(target)}
    if label is not None:
        body["label"] = label
    response = state.client().post(state.project_path("/deps/bump"), body)
    if state.json_output:
        print_json(response.body)
        return
    items = response.get("items", [])
    if not items:
        say(f"nothing to bump: no {'label ' + label if label else 'latest version'} pins "
            f"another version of {dep}")  # fmt: skip
        return
    table(
        ["prompt", "from", "new version", "was", "created"],
        ([b["prompt"], b["base"], b["version"], b["previous"], b["created"]] for b in items),
        title=f"bumped to {target}",
    )


@app.command("retire")
def retire(
    ctx: typer.Context,
    spec: Spec,
    on: Annotated[str, typer.Argument(metavar="YYYY-MM-DD|none", help="Retirement date.")],
) -> None:
    """Record a model's announced retirement date (``none`` clears it)."""
    state = get_state(ctx)
    _spec(spec, True)
    response = state.client().put(
        state.project_path("/deps/retirement"),
        {"dep": spec, "retires_on": None if on == "none" else on},
    )
    if state.json_output:
        print_json(response.body)
        return
    say(f"{spec} retires on {response.get('retires_on') or '(no date)'}", style="green")


@app.command("deprecations")
def deprecations(
    ctx: typer.Context,
    within: Annotated[int, typer.Option("--within", min=0, help="Days ahead to look.")] = 90,
) -> None:
    """Models retiring within --within days, with the versions and labels pinned to them."""
    state = get_state(ctx)
    response = state.client().get(
        state.project_path("/deps/deprecations"), params={"within_days": within}
    )
    if state.json_output:
        print_json(response.body)
        return
    items = response.get("items", [])
    if not items:
        say(f"no model pinned here retires within {within} days")
    for d in items:
        say(f"{d['dep']} retires on {d['retires_on']} ({d['days_left']} days)", style="yellow")
        _labels(d["labels"], f"labels pinned to {d['dep']}")


@app.command("drift")
def drift(
    ctx: typer.Context,
    label: Annotated[str | None, typer.Option("--label", help="Only this label.")] = None,
) -> None:
    """Calls that ran on a model, index or tool their version did not pin, per label."""
    state = get_state(ctx)
    response = state.client().get(
        state.project_path("/deps/drift"), params={"label": label} if label else None
    )
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["prompt", "version", "label", "kind", "pinned", "observed", "calls", "last"],
        ([d["prompt"], d["version"], d["label"], d["kind"], d["expected"], d["observed"],
          d["count"], d["last_at"]] for d in response.get("items", [])),
        title="drift",
    )  # fmt: skip
