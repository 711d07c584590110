"""``promptstage eval``: push and read suites, run a suite on a version and wait for it.

``eval run`` starts a run on the server (its runner calls the model), shows a progress bar
while the cases are graded, then a summary table; with ``--json`` it prints the finished run as
one document. It exits non-zero when the run did not pass, so a script or CI job can gate on it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .output import console, fields, more, print_json, say, short_digest, table
from .state import CliState, get_state, quote

app = typer.Typer(help="Eval suites and runs (docs/evals.md).", no_args_is_help=True)
suite_app = typer.Typer(help="Push, list and show eval suites.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")

OPEN = ("queued", "running")
EXIT_NOT_PASSED = 3


@suite_app.command("push")
def suite_push(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="A suite in YAML (or JSON) or TOML."
        ),
    ],
) -> None:
    """Push a suite file; an unchanged suite keeps its version."""
    state = get_state(ctx)
    fmt = "toml" if file.suffix.lower() == ".toml" else "yaml"
    body = {"text": file.read_text("utf-8"), "format": fmt}
    suite = state.client().post(state.project_path("/evals/suites"), body).body
    if state.json_output:
        print_json(suite)
        return
    what = "pushed" if suite.get("created") else "unchanged"
    say(
        f"{what}: {suite['name']} version {suite['version']} "
        f"({suite['cases']} cases, {short_digest(suite['digest'])})"
    )


@suite_app.command("list")
def suite_list(ctx: typer.Context) -> None:
    """The built-in suites and the project's own (newest versions)."""
    state = get_state(ctx)
    found = state.client().get(state.project_path("/evals/suites")).body
    if state.json_output:
        print_json(found)
        return
    table(
        ["name", "version", "cases", "digest", "author", "created"],
        (
            [
                s["name"],
                "built-in" if s["builtin"] else s["version"],
                s["cases"],
                short_digest(s["digest"]),
                s["author"],
                s["created_at"],
            ]
            for s in found.get("items", [])
        ),
        title=f"eval suites of {state.project}",
    )


@suite_app.command("show")
def suite_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Suite name, e.g. builtin/security.")],
    version: Annotated[
        int | None, typer.Option("--version", min=0, help="Suite version (default: newest).")
    ] = None,
) -> None:
    """One suite: its cases and its versions."""
    state = get_state(ctx)
    params = [] if version is None else [("version", version)]
    suite = state.client().get(state.project_path(f"/evals/suites/{quote(name)}"), params=params)
    body = suite.body
    if state.json_output:
        print_json(body)
        return
    fields(
        [
            ("suite", f"{body['name']} version {body['version']}"),
            ("digest", body["digest"]),
            ("description", body["description"]),
            ("versions", ", ".join(str(v["version"]) for v in body.get("versions", []))),
        ]
    )
    table(
        ["case", "family", "owasp", "assertions"],
        (
            [
                c["id"],
                c.get("family"),
                ",".join(c.get("owasp", [])),
                ", ".join(a["type"] for a in c.get("assertions", [])),
            ]
            for c in body["body"]["cases"]
        ),
    )


def _model(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    parts = value.split("/")
    if len(parts) != 3 or not all(parts):
        raise typer.BadParameter("expected PROVIDER/NAME/VERSION, e.g. openai/gpt-4o/2024-08-06")
    return {"provider": parts[0], "name": parts[1], "version": parts[2]}


def _wait(state: CliState, run: dict[str, Any], poll: float, timeout: float) -> dict[str, Any]:
    path = state.project_path(f"/evals/runs/{quote(run['id'])}")
    deadline = time.monotonic() + timeout
    if state.json_output:
        while run["status"] in OPEN and time.monotonic() < deadline:
            time.sleep(poll)
            run = state.client().get(path, params=[("limit", 1)]).body
        return run
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(),
        transient=False,
    ) as progress:
        task = progress.add_task(run["status"], total=run["progress"]["total"])
        while True:
            progress.update(
                task, completed=run["progress"]["done"], description=f"{run['status']:<9}"
            )
            if run["status"] not in OPEN or time.monotonic() >= deadline:
                return run
            time.sleep(poll)
            run = state.client().get(path, params=[("limit", 1)]).body


def _summary(run: dict[str, Any]) -> None:
    results = run["results"]
    rate = results["pass_rate"]
    fields(
        [
            ("run", run["id"]),
            ("status", run["status"]),
            ("suite", f"{run['suite']['name']} v{run['suite']['version']}"),
            ("prompt", f"{run['prompt']}@{run['version']} ({short_digest(run['version_digest'])})"),
            ("model", "/".join(run["model"].values())),
            ("cases", f"{run['progress']['done']}/{run['progress']['total']}"),
            ("passed", results["passed"]),
            ("failed", results["failed"]),
            ("errors", results["error"]),
            ("pass rate", "-" if rate is None else f"{rate:.1%}"),
            ("tokens in/out", f"{run['tokens']['input']}/{run['tokens']['output']}"),
            ("cost usd", "-" if run["cost_usd"] is None else f"{run['cost_usd']:.6f}"),
            ("error", run["error"]),
        ]
    )


def _failing(state: CliState, run: dict[str, Any]) -> None:
    path = state.project_path(f"/evals/runs/{quote(run['id'])}")
    cases = state.client().get(path, params=[("limit", 500)]).body["cases"]["items"]
    bad = [c for c in cases if not c["passed"]]
    if not bad:
        return
    table(
        ["case", "status", "why"],
        (
            [
                c["case_id"],
                c["status"],
                c["error"] or "; ".join(a["message"] for a in c["assertions"] if not a["passed"]),
            ]
            for c in bad[:50]
        ),
        title="cases that did not pass",
    )


@app.command("run")
def run(
    ctx: typer.Context,
    suite: Annotated[str, typer.Argument(help="Suite name, e.g. builtin/security.")],
    prompt: Annotated[str, typer.Option("--prompt", help="The prompt to evaluate.")],
    version: Annotated[int, typer.Option("--version", min=1, help="Its version number.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            callback=_model,
            metavar="PROVIDER/NAME/VERSION",
            help="Call this model instead of the version's (the run then does not count for "
            "the version's gate).",
        ),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the run and print its id.")
    ] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between looks.")] = 1.0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Stop waiting after this many seconds.")
    ] = 3600.0,
) -> None:
    """Run a suite on a prompt version and wait for the result (exit 3 unless it passed)."""
    state = get_state(ctx)
    body: dict[str, Any] = {"suite": suite, "prompt": prompt, "version": version}
    if model is not None:
        body["model"] = model
    started = state.client().post(state.project_path("/evals/runs"), body).body
    if no_wait:
        if state.json_output:
            print_json(started)
        else:
            say(started["id"])
        return
    final = _wait(state, started, poll, timeout)
    if state.json_output:
        print_json(final)
    else:
        _summary(final)
        _failing(state, final)
    if final["status"] != "passed":
        raise typer.Exit(EXIT_NOT_PASSED)


@app.command("runs")
def runs(
    ctx: typer.Context,
    suite: Annotated[str | None, typer.Option("--suite", help="Only runs of this suite.")] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Only runs of this prompt.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to fetch.")] = None,
) -> None:
    """Eval runs, newest first."""
    state = get_state(ctx)
    params: list[tuple[str, str | int]] = [("limit", limit)]
    for name, value in (("suite", suite), ("prompt", prompt), ("cursor", cursor)):
        if value is not None:
            params.append((name, value))
    found = state.client().get(state.project_path("/evals/runs"), params=params)
    if state.json_output:
        print_json(found.body)
        return
    table(
        ["id", "status", "suite", "prompt@version", "done", "passed", "created"],
        (
            [
                r["id"],
                r["status"],
                f"{r['suite']['name']} v{r['suite']['version']}",
                f"{r['prompt']}@{r['version']}",
                f"{r['progress']['done']}/{r['progress']['total']}",
                r["results"]["passed"],
                r["created_at"],
            ]
            for r in found.get("items", [])
        ),
        title=f"eval runs of {state.project}",
    )
    more(found.get("next_cursor"))


@app.command("cancel")
def cancel(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="The run id (run_...).")]
) -> None:
    """Cancel a queued or running run."""
    state = get_state(ctx)
    done = state.client().post(state.project_path(f"/evals/runs/{quote(run_id)}/cancel")).body
    if state.json_output:
        print_json(done)
    else:
        say(f"{done['id']}: {done['status']}")


@app.command("resume")
def resume(
    ctx: typer.Context, run_id: Annotated[str, typer.Argument(help="The run id (run_...).")]
) -> None:
    """Queue an interrupted run again; only its missing cases run."""
    state = get_state(ctx)
    done = state.client().post(state.project_path(f"/evals/runs/{quote(run_id)}/resume")).body
    if state.json_output:
        print_json(done)
    else:
        say(f"{done['id']}: {done['status']}")
