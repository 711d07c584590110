"""``promptstage audit``: read the trail, verify its chain, sign and check checkpoints, export
evidence.

``keygen`` and the signature check of ``verify --checkpoint`` run locally (they need the
``cryptography`` package of the ``server`` extra); everything else asks the server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from promptstage.errors import PromptstageError

from .http import TIMEOUT, USER_AGENT, error_message
from .output import fail, fields, more, print_json, say, table, warn
from .state import CliState, get_state

app = typer.Typer(
    help="Read and verify the project's tamper-evident audit trail.", no_args_is_help=True
)

CHAIN_HEADER = "X-Promptstage-Audit-Chain"


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Page to fetch.")] = None,
) -> None:
    """The audit trail, newest first."""
    state = get_state(ctx)
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    response = state.client().get(state.project_path("/audit"), params=params)
    if state.json_output:
        print_json(response.body)
        return
    table(
        ["seq", "at", "actor", "action", "target", "reason"],
        (
            [
                a.get("seq"),
                a.get("at"),
                a.get("actor"),
                a.get("action"),
                a.get("target"),
                a.get("reason"),
            ]
            for a in response.get("items", [])
        ),
        title=f"audit trail of {state.project}",
    )
    more(response.get("next_cursor"))


@app.command("verify")
def verify(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A file from `audit checkpoint`: check its signature, "
            "then that the chain still holds its head (catches truncation and rewrites).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            help="Base64 Ed25519 public key the checkpoint must be signed "
            "with (default: the key inside the file, which proves less).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check the hash chain; exit 1 and name the first bad row when it is broken."""
    state = get_state(ctx)
    params: dict[str, str | int] = {}
    signed_by: str | None = None
    if checkpoint is not None:
        doc = _read_json(checkpoint)
        cp = _checked_checkpoint(state, doc, public_key)
        params = {"checkpoint_seq": cp.seq, "checkpoint_hash": cp.head_hash}
        signed_by = _fingerprint(cp.public_key)
    response = state.client().get(state.project_path("/audit/verify"), params=params)
    ok = bool(response.get("ok"))
    if state.json_output:
        body = response.body
        if signed_by is not None and isinstance(body.get("checkpoint"), dict):
            body["checkpoint"]["signature"] = {"ok": True, "public_key_fingerprint": signed_by}
        print_json(body)
        if not ok:
            raise typer.Exit(1)
        return
    if not ok:
        fail(
            f"audit chain BROKEN at seq {response.get('first_bad_seq')}: {response.get('problem')} "
            f"({response.get('checked')} records verified before it)"
        )
    say(f"audit chain OK: {response.get('checked')} records checked", style="green")
    pairs: list[tuple[str, Any]] = [("head", response.get("head"))]
    if signed_by is not None:
        held = response.get("checkpoint") or {}
        pairs += [("checkpoint", f"seq {held.get('seq')} still holds {held.get('head_hash')}"),
                  ("signed by", signed_by if public_key else f"{signed_by} (embedded key; pin it "
                   "with --public-key)")]  # fmt: skip
    fields(pairs)


@app.command("checkpoint")
def checkpoint(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the checkpoint to this file (default: stdout).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Have the server sign the chain head (Ed25519); keep the file outside the database."""
    state = get_state(ctx)
    response = state.client().post(state.project_path("/audit/checkpoint"))
    if out is None:
        print_json(response.body)
        return
    try:
        out.write_text(json.dumps(response.body, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write the checkpoint to {str(out)!r}: {exc.strerror}; choose another --out")
    if state.json_output:
        print_json(response.body)
        return
    say(
        f"checkpoint of {response.get('project')} at seq {response.get('seq')} written to {out}",
        style="green",
    )
    fields(
        [
            ("head_hash", response.get("head_hash")),
            ("public key", response.get("public_key")),
            ("fingerprint", _fingerprint(str(response.get("public_key")))),
        ]
    )


@app.command("keygen")
def keygen(ctx: typer.Context) -> None:
    """Print a new Ed25519 signing key for PROMPTSTAGE_AUDIT_SIGNING_KEY (stdout) and its
    public key (stderr): `export PROMPTSTAGE_AUDIT_SIGNING_KEY=$(promptstage audit keygen)`."""
    from promptstage.domain.checkpoint import fingerprint, generate_private_key, public_key_of

    state = get_state(ctx)
    try:
        private = generate_private_key()
        public = public_key_of(private)
    except PromptstageError as exc:
        fail(exc.message)
    if state.json_output:
        print_json({"private_key": private, "public_key": public,
                    "fingerprint": fingerprint(public)})  # fmt: skip
        return
    sys.stdout.write(private + "\n")
    sys.stdout.flush()
    warn(f"public key (give it to whoever verifies checkpoints): {public}  [{fingerprint(public)}]")


@app.command("export")
def export(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="First instant included (ISO-8601; a date means 00:00 UTC).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="First instant excluded (ISO-8601).", show_default=False),
    ] = None,
    format_: Annotated[
        str, typer.Option("--format", help="jsonl (one JSON object per line) or csv.")
    ] = "jsonl",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write to this file (default: stdout).",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Evidence per change: actor, reason, diff, label state, approvals, hash."""
    state = get_state(ctx)
    params = {"format": format_}
    params.update({k: v for k, v in (("since", since), ("until", until)) if v})
    chain = _download(state, state.project_path("/audit/export"), params, out)
    if chain != "ok":
        warn(f"warning: the audit chain did not verify ({chain}); run `promptstage audit verify`")
    if out is not None and not state.json_output:
        say(f"evidence written to {out}", style="green")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read the checkpoint file {str(path)!r}: {exc.strerror}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(
            f"the checkpoint file {str(path)!r} is not JSON ({exc}); "
            "export it again with `promptstage audit checkpoint --out FILE`"
        )


def _checked_checkpoint(state: CliState, doc: Any, public_key: str | None) -> Any:
    """The checkpoint, its signature verified, its project the one acted on."""
    from promptstage.domain.checkpoint import Checkpoint, verify_checkpoint

    try:
        cp = Checkpoint.from_json(doc)
        if state.project_name and state.project_name != cp.project:
            fail(
                f"the checkpoint is of project {cp.project!r}, not {state.project_name!r}; "
                "drop --project or pass the right file"
            )
        verify_checkpoint(cp, public_key)
    except PromptstageError as exc:
        if state.json_output:
            print_json({"ok": False, "problem": exc.message, "field": exc.field})
        fail(f"checkpoint rejected: {exc.message}")
    state.project_name = cp.project
    return cp


def _fingerprint(public_key: str) -> str:
    from promptstage.domain.checkpoint import fingerprint

    return fingerprint(public_key)


def _download(state: CliState, path: str, params: dict[str, str], out: Path | None) -> str:
    """Stream a non-JSON response to ``out`` (or stdout); returns the chain header."""
    client = state.client()  # checks the API key is there
    headers = {"Authorization": f"Bearer {state.api_key}", "User-Agent": USER_AGENT}
    try:
        with httpx.stream("GET", client.base_url + path, params=params, headers=headers,
                          timeout=TIMEOUT) as response:  # fmt: skip
            if response.status_code >= 400:
                response.read()
                try:
                    body = response.json()
                except ValueError:
                    body = None
                fail(error_message(response.status_code, body, response.text))
            sink = sys.stdout if out is None else _open(out)
            try:
                for chunk in response.iter_text():
                    sink.write(chunk)
            finally:
                if out is not None:
                    sink.close()
                else:
                    sink.flush()
            return str(response.headers.get(CHAIN_HEADER, "ok"))
    except httpx.TimeoutException:
        fail(f"the server at {client.base_url} did not answer in time (GET {path})", 2)
    except httpx.HTTPError:
        fail(f"cannot reach the server at {client.base_url}: is `promptstage serve` running?", 2)


def _open(path: Path) -> Any:
    try:
        return path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"cannot write to {str(path)!r}: {exc.strerror}; choose another --out")
