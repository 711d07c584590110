"""The evaluation gate in the CLI (issue 13): a refusal says why and exits 1, `--override-gate`
moves anyway (admins), `prompt show` prints the gate status, `prompt push` prints warnings."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from promptstage.cli.fake_behaviours import Behaviour
from promptstage.cli.main import app
from promptstage.server import create_app
from promptstage.service.context import Context
from promptstage.service.prompts import get_version
from promptstage.settings import Settings
from support.eval_gate import MemoryRuns, graded_run

from .conftest import ENV_NAMES, CliRun

MODEL = {"provider": "openai", "name": "gpt-4o", "version": "2024-08-06"}


class Gated:
    def __init__(self, url: str, admin_key: str, ctx: Context, runs: MemoryRuns) -> None:
        self.url, self.admin_key, self.ctx, self.runs = url, admin_key, ctx, runs

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/api/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.admin_key}"},
        )
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gated]:
    """A live server with the evaluation gate ON over an in-memory run source."""
    database = tmp_path_factory.mktemp("cli-gate") / "db.sqlite"
    admin_key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    runs = MemoryRuns()
    application = create_app(
        Settings(database_url=f"sqlite:///{database}", admin_key=admin_key), run_source=runs
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        application, log_level="warning", lifespan="on", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Gated(f"http://127.0.0.1:{port}", admin_key, application.state.ctx, runs)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def shop(gated: Gated) -> str:
    """A project with prompt ``greet`` v1 (passed, on prod) and v2 (an obeying model's run)."""
    name = f"p-{secrets.token_hex(4)}"
    gated.call("POST", "/projects", {"name": name})
    gated.call(
        "PUT", f"/projects/{name}/settings", {"protected_labels": ["prod"], "four_eyes": False}
    )
    gated.call("POST", f"/projects/{name}/prompts", {"name": "greet", "type": "text"})
    for n, behaviour in ((1, Behaviour.REFUSE), (2, Behaviour.OBEY)):
        body = {"template": f"Hello v{n} {{{{ name }}}}", "config": {"model": MODEL}}
        gated.call("POST", f"/projects/{name}/prompts/greet/versions", body)
        version = get_version(gated.ctx, name, "greet", n)
        gated.runs.add(name, graded_run(version, behaviour, run_id=f"run-{name}-{n}"))
    gated.call(
        "PUT",
        f"/projects/{name}/prompts/greet/labels/prod",
        {"version": 1, "expected_version": None},
    )
    return name


def run_cli(gated: Gated, project: str, *args: str) -> Result:
    environ: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    environ.update(
        PROMPTSTAGE_URL=gated.url,
        PROMPTSTAGE_API_KEY=gated.admin_key,
        PROMPTSTAGE_PROJECT=project,
        COLUMNS="250",
        NO_COLOR="1",
    )
    result = CliRunner().invoke(app, list(args), env=environ)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def test_a_refused_move_says_why_and_exits_1(gated: Gated, shop: str) -> None:
    result = run_cli(gated, shop, "label", "set", "greet", "prod", "2")
    assert result.exit_code == 1
    assert "[gate_refused]" in result.output and "builtin/security" in result.output
    assert "jailbreak-roleplay-01" in result.output  # a failing case, by name


def test_override_gate_moves_and_prompt_show_lists_the_override(gated: Gated, shop: str) -> None:
    moved = run_cli(
        gated, shop, "label", "set", "greet", "prod", "2", "--override-gate", "incident 9"
    )
    assert moved.exit_code == 0, moved.output
    shown = run_cli(gated, shop, "prompt", "show", "greet", "--version", "2")
    assert shown.exit_code == 0, shown.output
    assert "BLOCKED" in shown.output and "overridden" in shown.output
    assert "incident 9" in shown.output
    passed = run_cli(gated, shop, "prompt", "show", "greet", "--version", "1")
    assert "pass" in passed.output and "BLOCKED" not in passed.output


def test_push_prints_the_static_check_warnings(cli: CliRun, tmp_path: Path) -> None:
    file = tmp_path / "note.toml"
    file.write_text(
        'name = "note"\ntype = "text"\n'
        'template = "Example card 4111 1111 1111 1111 for {{ name }}"\n'
        '[config.model]\nprovider = "openai"\nname = "gpt-4o"\nversion = "2024-08-06"\n'
    )
    result = cli("prompt", "push", str(file))
    assert result.exit_code == 0, result.output
    assert "warning (pii): template line 1 column 14" in result.output
    assert "4111 1111 1111 1111" not in result.output
