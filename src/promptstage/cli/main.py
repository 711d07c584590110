"""The ``promptstage`` Typer app: global options, command groups and the console entry point.

Global options sit on the root callback and each reads an environment variable when the flag
is absent (flags > environment > defaults)::

    promptstage --url http://127.0.0.1:8700 --api-key ps_... --project clinic prompt list
    PROMPTSTAGE_PROJECT=clinic promptstage prompt list --json
"""

from __future__ import annotations

from typing import Annotated

import typer

from . import (
    audit,
    calls,
    change,
    db,
    demo,
    deps,
    dev,
    evals,
    files,
    import_langfuse,
    keys,
    labels,
    principals,
    projects,
    prompts,
    release,
    resolve,
    serve,
    users,
)
from .help_format import hide_flag_types
from .state import DEFAULT_URL, CliState

hide_flag_types()
app = typer.Typer(
    name="promptstage",
    help="Versioned prompts with environment labels, instant rollback and an audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(projects.app, name="project")
app.add_typer(keys.app, name="key")
app.add_typer(principals.app, name="principal")
app.add_typer(users.app, name="user")
app.add_typer(prompts.app, name="prompt")
app.add_typer(labels.app, name="label")
app.add_typer(audit.app, name="audit")
app.add_typer(db.app, name="db")
app.add_typer(release.app, name="release")
app.add_typer(demo.app, name="demo")
app.add_typer(calls.app, name="calls")
app.add_typer(change.app, name="change")
app.add_typer(dev.app, name="dev")
app.add_typer(evals.app, name="eval")
app.add_typer(files.app, name="files")
app.add_typer(deps.app, name="deps")
app.add_typer(import_langfuse.app, name="import")
app.command("serve")(serve.serve)
app.command("resolve")(resolve.resolve)


def _version(value: bool) -> None:
    """Eager ``--version`` callback."""
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"promptstage {version('promptstage')}")
        except PackageNotFoundError:
            typer.echo("promptstage (not installed)")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="PROMPTSTAGE_URL", help="Server base URL.")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="PROMPTSTAGE_API_KEY",
            help="API key (ps_<prefix>_<secret>).",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            envvar="PROMPTSTAGE_PROJECT",
            help="Project to act on.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", envvar="PROMPTSTAGE_JSON", help="Print the API's JSON response, nothing else."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Manage prompts, versions, labels, keys and the audit trail of a promptstage server."""
    state = CliState(
        url=url or DEFAULT_URL,
        api_key=api_key or None,
        project_name=project or None,
        json_output=json_output,
    )
    ctx.obj = state
    ctx.call_on_close(state.close)


def main() -> None:
    """Console entry point (``promptstage``)."""
    app(prog_name="promptstage")
