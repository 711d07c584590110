"""``promptstage files``: prompts as Dotprompt/Prompty files in a directory, for git.

``pull`` writes each prompt's latest version as a file plus ``promptstage.lock`` (which version
each file came from); ``diff`` shows what ``push`` would write and exits 1 when it would write
something; ``push`` writes a version for each file whose content differs from its lock entry.
Parsing and writing the files is :mod:`promptstage.files` (pure); this module does the I/O.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any

import typer

from promptstage.files.layout import FORMATS, Format, format_of, path_for, write_file
from promptstage.files.lock import LOCK_NAME, Entry, Lock, parse_lock
from promptstage.files.plan import Change, make_plan
from promptstage.files.spec import FileFormatError, PromptSpec

from .gate import say_warnings
from .labels import say_move
from .output import err_console, fail, print_json, say, warn
from .state import CliState, get_state, quote

app = typer.Typer(
    help="Keep prompts as Dotprompt/Prompty files in git: pull, diff, push.",
    no_args_is_help=True,
)
Dir = Annotated[Path, typer.Argument(help="The directory of prompt files.", show_default=False)]


@app.command("pull")
def pull(
    ctx: typer.Context,
    directory: Dir,
    format_: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="dotprompt (.prompt) or prompty (.prompty) for new files."
        ),
    ] = "dotprompt",
) -> None:
    """Write every prompt's latest version as a file, and promptstage.lock."""
    if format_ not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {format_!r}")
    state = get_state(ctx)
    old = _read_lock(directory, state.project)
    lock = Lock(state.project)
    written: list[dict[str, Any]] = []
    errors: list[str] = []
    for prompt in _prompts(state):
        name = prompt["name"]
        number = prompt.get("latest_version") or 0
        if not number:
            warn(f"{name}: no versions yet, skipped")
            continue
        version = state.client().get(state.prompt_path(name, f"/versions/{number}")).body
        spec = PromptSpec(
            prompt["type"],
            version["template"],
            version["variables"],
            version["config"],
            prompt.get("description") or None,
        )
        previous = old.prompts.get(name)
        fmt = (format_of(previous.file) if previous else None) or FORMATS[format_]
        try:
            text = write_file(spec, name, fmt)
        except FileFormatError as exc:
            errors.append(str(exc))
            continue
        path = path_for(name, fmt)
        target = directory / path
        if not target.resolve().is_relative_to(directory.resolve()):  # a symlinked folder
            errors.append(f"{path}: leads outside {directory}; not written")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        detail = state.client().get(state.prompt_path(name)).body  # the list has no labels
        labels = {k: v for k, v in (detail.get("labels") or {}).items() if isinstance(v, int)}
        lock.prompts[name] = Entry(path, number, version["digest"], labels)
        written.append({"name": name, "file": path, "version": number})
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LOCK_NAME).write_text(lock.to_text(), encoding="utf-8")
    kept = {entry.file for entry in lock.prompts.values()}
    for stale in sorted(set(_read_files(directory)) - kept):
        warn(f"warning: {stale} is not a prompt of {state.project} (archived or never pushed)")
    if state.json_output:
        print_json({"written": written, "errors": errors})
    else:
        for item in written:
            say(f"{item['file']}: {item['name']} version {item['version']}")
        say(f"pulled {len(written)} prompt(s) of {state.project} into {directory}", style="green")
    if errors:
        fail("; ".join(errors))


@app.command("diff")
def diff(ctx: typer.Context, directory: Dir) -> None:
    """Show what a push would write; exit 1 when it would write anything (for CI)."""
    state = get_state(ctx)
    lock = _read_lock(directory, state.project)
    plan = make_plan(lock, _read_files(directory))
    _stop_on_errors(plan.errors, plan.warnings)
    rows = []
    for change in plan.pending:
        moved = _server_moved(state, change)
        rows.append(
            {
                "name": change.name,
                "file": change.file,
                "action": change.action,
                "from_version": change.base_version,
                "server_moved": moved,
            }
        )
        if state.json_output:
            continue
        if change.action == "new":
            say(f"{change.file}: new prompt {change.name}", style="green")
            continue
        say(
            f"{change.file}: {change.name} changed (pulled at version {change.base_version})",
            style="yellow",
        )
        if moved is not None:
            warn(f"  the server is at version {moved} since: push will refuse; pull first")
        for line in _file_diff(state, directory, change):
            say(line, style=_line_style(line))
    if state.json_output:
        print_json({"changes": rows})
    elif not rows:
        say(f"no changes: {directory} matches {LOCK_NAME}")
    if rows:
        raise typer.Exit(1)


@app.command("push")
def push(
    ctx: typer.Context,
    directory: Dir,
    label: Annotated[
        str | None, typer.Option("--label", "-l", help="Move this label to each new version.")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Commit message of each new version.")
    ] = None,
) -> None:
    """Write a new version for each file that differs from the version it was pulled from."""
    state = get_state(ctx)
    lock = _read_lock(directory, state.project)
    plan = make_plan(lock, _read_files(directory))
    _stop_on_errors(plan.errors, plan.warnings)
    client = state.client()
    current: dict[str, dict[str, Any]] = {}
    problems = []
    for change in plan.pending:  # check every file before writing any
        found = client.get(state.prompt_path(change.name), allow={404})
        if change.action == "new" and found.status != 404:
            problems.append(
                f"{change.file}: prompt {change.name} already exists on the server but not in "
                f"{LOCK_NAME}; run `promptstage files pull` first"
            )
        elif change.action == "modified" and found.status == 404:
            problems.append(f"{change.file}: prompt {change.name} is gone from the server")
        elif change.action == "modified":
            if found.get("latest_version") != change.base_version:
                problems.append(
                    f"{change.file}: {change.name} is at version {found.get('latest_version')} "
                    f"on the server, not {change.base_version} as pulled; pull, merge, push"
                )
            if found.get("type") != change.spec.type:
                problems.append(
                    f"{change.file}: {change.name} is a {found.get('type')} prompt on the server "
                    f"but the file holds a {change.spec.type} prompt"
                )
            current[change.name] = found.body
    _stop_on_errors(problems, [])
    results = []
    for change in plan.pending:
        body = _version_body(change.spec, message)
        if change.action == "new":
            made = client.post(
                state.project_path("/prompts"),
                {
                    "name": change.name,
                    "type": change.spec.type,
                    **({"description": change.spec.description} if change.spec.description else {}),
                    "version": body,
                },
            ).body
            version, labels = made["version"], {}
        else:
            version = client.post(state.prompt_path(change.name, "/versions"), body).body
            labels = dict(current[change.name].get("labels") or {})
        number = version["version"]
        moved = None
        if label is not None:
            move: dict[str, Any] = {"version": number, "expected_version": labels.get(label)}
            if message is not None:
                move["reason"] = message
            moved = client.put(state.prompt_path(change.name, f"/labels/{quote(label)}"), move).body
            if moved.get("changed") or moved.get("version") == number:
                labels[label] = number
        labels["latest"] = number
        lock.prompts[change.name] = Entry(change.file, number, version["digest"], labels)
        # Saved after each write: a later failure must not leave a written version unrecorded.
        (directory / LOCK_NAME).write_text(lock.to_text(), encoding="utf-8")
        results.append(
            {"name": change.name, "file": change.file, "version": version, "label": moved}
        )
        if not state.json_output:
            say(f"{change.file}: {change.name} version {number}", style="green")
            say_warnings(version)
            if moved is not None and label is not None:
                say_move(label, moved)
    if state.json_output:
        print_json({"written": results})
    else:
        unchanged = len(plan.changes) - len(results)
        say(f"pushed {len(results)} version(s); {unchanged} file(s) unchanged")


def _version_body(spec: PromptSpec, message: str | None) -> dict[str, Any]:
    """The ``POST .../versions`` body for a file's content."""
    body: dict[str, Any] = {
        "template": spec.template,
        "variables": spec.variables,
        "config": spec.config,
    }
    if message is not None:
        body["message"] = message
    return body


def _prompts(state: CliState) -> list[dict[str, Any]]:
    """Every live prompt of the project, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = state.client().get(state.project_path("/prompts"), params=params)
        items.extend(page.get("items") or [])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _read_files(directory: Path) -> dict[str, str]:
    """Relative path -> text of every prompt file under ``directory`` (hidden folders skipped)."""
    if not directory.is_dir():
        fail(f"{directory} is not a directory; run `promptstage files pull {directory}` first")
    files: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if format_of(relative.as_posix()) is None:
            continue
        try:
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            fail(f"{relative.as_posix()}: not UTF-8 text")
    return files


def _read_lock(directory: Path, project: str) -> Lock:
    """The directory's lock file (empty when there is none yet), for this project."""
    path = directory / LOCK_NAME
    if not path.exists():
        return Lock(project)
    try:
        lock = parse_lock(path.read_text(encoding="utf-8"))
    except FileFormatError as exc:
        fail(str(exc))
    if lock.project != project:
        fail(
            f"{path} was pulled from project {lock.project!r}, not {project!r}: pass "
            f"-p {lock.project} or use another directory"
        )
    return lock


def _stop_on_errors(errors: list[str], warnings: list[str]) -> None:
    """Print warnings, then every error, and exit 1 when there is any error."""
    for message in warnings:
        warn(f"warning: {message}")
    if not errors:
        return
    console = err_console()
    for message in errors[:-1]:
        console.print(f"error: {message}", style="bold red", soft_wrap=True, markup=False)
    fail(errors[-1])


def _server_moved(state: CliState, change: Change) -> int | None:
    """The server's latest version when it is no longer the one the file was pulled from."""
    if change.action != "modified":
        return None
    latest = state.client().get(state.prompt_path(change.name)).get("latest_version")
    return latest if latest != change.base_version else None


def _file_diff(state: CliState, directory: Path, change: Change) -> list[str]:
    """A unified diff from the pulled version (rewritten in the file's format) to the file."""
    fmt: Format | None = format_of(change.file)
    assert fmt is not None  # the plan only holds prompt files
    version = (
        state.client().get(state.prompt_path(change.name, f"/versions/{change.base_version}")).body
    )
    prompt = state.client().get(state.prompt_path(change.name)).body
    before_spec = PromptSpec(
        prompt["type"],
        version["template"],
        version["variables"],
        version["config"],
        change.spec.description,
    )
    try:
        before = write_file(before_spec, change.name, fmt)
    except FileFormatError as exc:
        return [f"  (no file diff: {exc})"]
    after = (directory / change.file).read_text(encoding="utf-8")
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"a/{change.file} (version {change.base_version})",
            f"b/{change.file}",
        )
    ]


def _line_style(line: str) -> str:
    """The color of one unified-diff line."""
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return "green" if line.startswith("+") else "red" if line.startswith("-") else ""
