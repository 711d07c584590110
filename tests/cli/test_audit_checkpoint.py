"""``promptstage audit keygen | checkpoint | verify --checkpoint | export`` against a real server."""

from __future__ import annotations

import base64
import csv
import io
import json
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from promptstage.cli.main import app
from promptstage.domain.checkpoint import generate_private_key, public_key_of
from promptstage.server import create_app
from promptstage.settings import Settings

ENV_NAMES = ("PROMPTSTAGE_URL", "PROMPTSTAGE_API_KEY", "PROMPTSTAGE_PROJECT", "PROMPTSTAGE_JSON")


@dataclass(frozen=True)
class Server:
    url: str
    admin_key: str
    database: Path
    public_key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A uvicorn server in a thread, on SQLite, with an audit signing key."""
    database = tmp_path_factory.mktemp("audit-cli") / "db.sqlite"
    admin_key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    signing_key = generate_private_key()
    settings = Settings(database_url=f"sqlite:///{database}", admin_key=admin_key,
                        audit_signing_key=signing_key, eval_gate=False)  # fmt: skip
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on", ws="none",
                            access_log=False)  # fmt: skip
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    try:
        yield Server(f"http://127.0.0.1:{port}", admin_key, database, public_key_of(signing_key))
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def project(server: Server) -> str:
    """A fresh project with a prompt, a version and two label moves (5 audit rows)."""
    name = f"p-{secrets.token_hex(4)}"
    base = f"{server.url}/api/v1/projects"
    with httpx.Client(headers={"Authorization": f"Bearer {server.admin_key}"}) as http:
        http.post(base, json={"name": name}).raise_for_status()
        http.post(
            f"{base}/{name}/prompts", json={"name": "greet", "type": "text"}
        ).raise_for_status()
        version = {
            "template": "Hi {{ who }}",
            "config": {"model": {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}},
        }
        http.post(f"{base}/{name}/prompts/greet/versions", json=version).raise_for_status()
        for label in ("staging", "prod"):
            http.put(
                f"{base}/{name}/prompts/greet/labels/{label}",
                json={"version": 1, "expected_version": None},
            ).raise_for_status()
    return name


CliRun = Callable[..., Result]


@pytest.fixture
def cli(server: Server, project: str) -> CliRun:
    runner = CliRunner()

    def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
        environ: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
        environ.update(PROMPTSTAGE_URL=server.url, PROMPTSTAGE_API_KEY=server.admin_key,
                       PROMPTSTAGE_PROJECT=project, COLUMNS="200", NO_COLOR="1")  # fmt: skip
        environ.update(env or {})
        result = runner.invoke(app, list(args), env=environ)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result

    return run


def _truncate(server: Server, project: str, keep: int) -> None:
    """What a superuser could do: drop the tail and move the recorded head to match."""
    with sqlite3.connect(server.database) as db:
        db.execute("DELETE FROM audit WHERE project = ? AND seq > ?", (project, keep))
        (head,) = db.execute(
            "SELECT hash FROM audit WHERE project = ? AND seq = ?", (project, keep)
        ).fetchone()
        db.execute(
            "UPDATE projects SET audit_seq = ?, audit_head = ? WHERE name = ?",
            (keep, head, project),
        )


def test_keygen_prints_a_key_and_its_public_half(cli: CliRun) -> None:
    result = cli(
        "audit",
        "keygen",
        env={"PROMPTSTAGE_API_KEY": None, "PROMPTSTAGE_URL": "http://127.0.0.1:1"},
    )
    assert result.exit_code == 0, result.output
    private = result.stdout.strip()
    assert len(base64.b64decode(private, validate=True)) == 32
    assert public_key_of(private) in result.stderr
    doc = json.loads(cli("--json", "audit", "keygen").stdout)
    assert doc["public_key"] == public_key_of(doc["private_key"]) and doc["fingerprint"].startswith(
        "sha256:"
    )


def test_checkpoint_then_verify_then_truncation_is_caught(
    cli: CliRun, server: Server, project: str, tmp_path: Path
) -> None:
    path = tmp_path / "checkpoint.json"
    made = cli("audit", "checkpoint", "--out", str(path))
    assert made.exit_code == 0, made.output
    doc = json.loads(path.read_text())
    assert (doc["project"], doc["seq"], doc["public_key"]) == (project, 5, server.public_key)
    ok = cli("audit", "verify", "--checkpoint", str(path), "--public-key", server.public_key)
    assert ok.exit_code == 0, ok.output
    assert "seq 5 still holds" in ok.stdout
    # Pinned key omitted: still verifies, and says the embedded key proves less.
    assert "pin it" in cli("audit", "verify", "--checkpoint", str(path)).stdout
    _truncate(server, project, keep=3)
    assert cli("audit", "verify").exit_code == 0  # the chain alone cannot tell
    broken = cli("audit", "verify", "--checkpoint", str(path))
    assert broken.exit_code == 1
    assert "BROKEN at seq 4" in broken.stderr and "deleted after the checkpoint" in broken.stderr
    as_json = cli("--json", "audit", "verify", "--checkpoint", str(path))
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["checkpoint"]["ok"] is False and body["checkpoint"]["signature"]["ok"] is True


def test_checkpoint_to_stdout_is_the_document(cli: CliRun, project: str) -> None:
    result = cli("audit", "checkpoint")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["project"] == project


def test_verify_rejects_a_bad_checkpoint_file(cli: CliRun, project: str, tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cli("audit", "checkpoint", "--out", str(path))
    doc: dict[str, Any] = json.loads(path.read_text())

    def verify_with(
        changed: dict[str, Any], *extra: str, env: dict[str, str | None] | None = None
    ) -> Result:
        path.write_text(json.dumps({**doc, **changed}))
        return cli("audit", "verify", "--checkpoint", str(path), *extra, env=env)

    altered = verify_with({"seq": 3})
    assert altered.exit_code == 1 and "signature does not verify" in altered.stderr
    pinned = verify_with({}, "--public-key", public_key_of(generate_private_key()))
    assert pinned.exit_code == 1 and "not by the pinned key" in pinned.stderr
    other = verify_with({}, env={"PROMPTSTAGE_PROJECT": "someone-else"})
    assert other.exit_code == 1 and f"of project {project!r}" in other.stderr
    path.write_text("{not json")
    garbled = cli("audit", "verify", "--checkpoint", str(path))
    assert garbled.exit_code == 1 and "not JSON" in garbled.stderr
    missing = cli("audit", "verify", "--checkpoint", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_verify_takes_the_project_from_the_checkpoint(cli: CliRun, tmp_path: Path) -> None:
    path = tmp_path / "cp.json"
    cli("audit", "checkpoint", "--out", str(path))
    result = cli("audit", "verify", "--checkpoint", str(path), env={"PROMPTSTAGE_PROJECT": None})
    assert result.exit_code == 0, result.output


def test_export_jsonl_and_csv(cli: CliRun, tmp_path: Path) -> None:
    result = cli("audit", "export")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["action"] for r in records] == [
        "project.create",
        "prompt.create",
        "version.create",
        "label.move",
        "label.move",
    ]
    assert records[-1]["label_state"]["labels"] == {"prod": 1, "staging": 1}
    out = tmp_path / "evidence.csv"
    written = cli(
        "audit", "export", "--format", "csv", "--out", str(out), "--since", records[2]["at"]
    )
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["seq"]) for r in rows] == [3, 4, 5]
    assert json.loads(rows[0]["version_diff"])["to"] == 1
    bad = cli("audit", "export", "--format", "xml")
    assert bad.exit_code == 1 and "format must be one of" in bad.stderr


def test_export_warns_when_the_chain_is_broken(cli: CliRun, server: Server, project: str) -> None:
    with sqlite3.connect(server.database) as db:
        db.execute("UPDATE audit SET reason = 'edited' WHERE project = ? AND seq = 2", (project,))
    result = cli("audit", "export")
    assert result.exit_code == 0
    assert "broken at seq 2" in result.stderr
