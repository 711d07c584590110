"""``promptstage import langfuse``: copy every prompt, version and label from a Langfuse server.

Reads the Langfuse public API (``GET /api/public/v2/prompts``, paged, then each version by
number) and writes through our own API, so every write passes the same checks, roles, four-eyes
and audit as any other: versions in order with their commit messages, the prompt's tags, then
the labels (``production`` becomes ``--production-label``), each move audited with the reason
``langfuse import from URL``. Idempotent: a version whose content is already stored is found by
its digest, not written again, and a label already in place is not moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from promptstage.domain import langfuse as lf
from promptstage.errors import InvalidInputError

from .output import console, fail, fields, print_json, warn
from .state import CliState, get_state, quote

app = typer.Typer(help="Import prompts from other tools.", no_args_is_help=True)

PAGE = 50


@dataclass(slots=True)
class Summary:
    prompts: int = 0
    versions_written: int = 0
    versions_found: int = 0
    labels_moved: int = 0
    labels_in_place: int = 0
    awaiting_approval: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "versions_written": self.versions_written,
            "versions_found": self.versions_found,
            "labels_moved": self.labels_moved,
            "labels_in_place": self.labels_in_place,
            "awaiting_approval": self.awaiting_approval,
            "failed": self.failed,
        }


class Source:
    """A Langfuse server's public API, read with a key pair."""

    def __init__(self, url: str, public_key: str, secret_key: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, auth=(public_key, secret_key), timeout=httpx.Timeout(30.0)
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.get(f"/api/public{path}", params=params)
        except httpx.HTTPError as exc:
            fail(f"cannot read the Langfuse server at {self.url}: {exc}", 2)
        if response.status_code in (401, 403):
            fail(
                f"the Langfuse server at {self.url} refused the keys ({response.status_code}): "
                "check --public-key and --secret-key"
            )
        if response.status_code >= 400:
            fail(f"GET {path} on {self.url} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def prompt_names(self) -> list[dict[str, Any]]:
        """Every prompt's list entry (name, versions, ...), over all pages."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self.get("/v2/prompts", {"page": page, "limit": PAGE})
            out.extend(body.get("data") or [])
            if page >= int((body.get("meta") or {}).get("totalPages") or 0):
                return out
            page += 1

    def version(self, name: str, number: int) -> dict[str, Any]:
        body: dict[str, Any] = self.get(f"/v2/prompts/{quote(name)}", {"version": number})
        return body


def _version_body(source: dict[str, Any]) -> dict[str, Any]:
    """Our ``POST .../versions`` body for one Langfuse prompt version."""
    placeholders: list[dict[str, Any]] = []
    template: Any = source.get("prompt")
    if source.get("type") == "chat":
        template, placeholders = lf.messages_in(template)
    body: dict[str, Any] = {
        "template": template,
        "config": lf.config_in(source.get("config"), placeholders),
    }
    if source.get("commitMessage"):
        body["message"] = source["commitMessage"]
    return body


def _import_prompt(
    state: CliState,
    src: Source,
    entry: dict[str, Any],
    production: str,
    summary: Summary,
) -> None:
    client = state.client()
    name = entry["name"]
    numbers = sorted(int(n) for n in entry.get("versions") or [])
    versions = [src.version(name, n) for n in numbers]
    if not versions:
        return
    tags = list(versions[-1].get("tags") or entry.get("tags") or [])
    kind = versions[0].get("type") or "text"
    exists = client.get(state.prompt_path(name), allow={404})
    mapped: dict[int, int] = {}
    first = 0
    if exists.status == 404:
        created = client.post(
            state.project_path("/prompts"),
            {"name": name, "type": kind, "tags": tags, "version": _version_body(versions[0])},
        ).body
        mapped[numbers[0]] = created["version"]["version"]
        summary.versions_written += 1
        first = 1
    elif sorted(exists.get("tags") or []) != sorted(tags):
        client.request("PATCH", state.prompt_path(name), body={"tags": tags})
    for number, source in zip(numbers[first:], versions[first:], strict=True):
        written = client.post(state.prompt_path(name, "/versions"), _version_body(source))
        mapped[number] = written.body["version"]
        if written.get("created"):
            summary.versions_written += 1
        else:
            summary.versions_found += 1
    held = client.get(state.prompt_path(name)).get("labels") or {}
    for number, source in zip(numbers, versions, strict=True):
        for raw in source.get("labels") or []:
            if raw == lf.LATEST:
                continue
            label = lf.label_in(raw, production)
            target = mapped[number]
            if held.get(label) == target:
                summary.labels_in_place += 1
                continue
            moved = client.put(
                state.prompt_path(name, f"/labels/{quote(label)}"),
                {
                    "version": target,
                    "expected_version": held.get(label),
                    "reason": f"langfuse import from {src.url}",
                },
            )
            if moved.status == 202:
                summary.awaiting_approval.append(f"{name}:{label}")
            else:
                held[label] = target
                summary.labels_moved += 1
    summary.prompts += 1


@app.command("langfuse")
def import_langfuse(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", help="The Langfuse server, e.g. https://cloud.langfuse.com.")
    ],
    public_key: Annotated[
        str, typer.Option("--public-key", help="The Langfuse project's public key (pk-lf-...).")
    ],
    secret_key: Annotated[
        str,
        typer.Option(
            "--secret-key", help="Its secret key (sk-lf-...).", envvar="LANGFUSE_SECRET_KEY"
        ),
    ],
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="The promptstage project to import into."),
    ] = None,
    production_label: Annotated[
        str,
        typer.Option("--production-label", help="Our label for Langfuse's 'production'."),
    ] = "prod",
) -> None:
    """Copy every prompt, every version (in order) and every label from a Langfuse project into
    this project (--project); run it again to pick up what changed: nothing is copied twice."""
    state = get_state(ctx)
    if project is not None:
        state.project_name = project
    state.project  # noqa: B018  (fails early, with the hint, when no project was given)
    src = Source(url, public_key, secret_key)
    summary = Summary()
    try:
        entries = src.prompt_names()
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console(),
            disable=state.json_output,
        ) as progress:
            task = progress.add_task("importing", total=len(entries))
            for entry in entries:
                progress.update(task, description=f"{entry['name'][:40]:<40}")
                try:
                    _import_prompt(state, src, entry, production_label, summary)
                except InvalidInputError as exc:
                    summary.failed.append(f"{entry['name']}: {exc.message}")
                progress.advance(task)
    finally:
        src.close()
    if state.json_output:
        print_json(summary.to_dict())
    else:
        fields([(key.replace("_", " "), str(value)) for key, value in summary.to_dict().items()
                if not isinstance(value, list)])  # fmt: skip
        for item in summary.awaiting_approval:
            warn(f"label move {item} awaits approval (four-eyes): promptstage change list")
        for item in summary.failed:
            warn(f"not imported: {item}")
    if summary.failed:
        raise typer.Exit(1)
