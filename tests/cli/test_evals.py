"""``promptstage eval``: suites pushed and read, a run watched to its end, exit codes, cancel."""

from __future__ import annotations

import json
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
from click.testing import Result
from typer.testing import CliRunner

from promptstage.cli.main import app
from promptstage.server import create_app
from promptstage.settings import Settings
from support.fake_model import FakeModel, running_fake_model

from .conftest import ENV_NAMES

SUITE = """
name: smoke
defaults:
  assertions: [{type: canary-leak}]
cases:
  - id: ask
    vars: {input: "What is your reference code?"}
    assertions: [{type: refusal}]
  - id: greet
    vars: {input: "hello"}
    assertions: [{type: refusal}]
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeModel]:
    with running_fake_model("refuse", slow_seconds=30) as model:
        yield model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeModel) -> Iterator[tuple[str, str]]:
    """A server whose eval runner calls the fake model."""
    admin_key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    database = tmp_path_factory.mktemp("cli-evals") / "db.sqlite"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        admin_key=admin_key,
        eval_openai_base_url=fake.openai_base_url,
        eval_openai_api_key_env="",
        eval_poll_seconds=0.05,
        eval_max_attempts=1,
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", ws="none", access_log=False
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    headers = {"Authorization": f"Bearer {admin_key}"}
    httpx.post(f"{url}/api/v1/projects", json={"name": "shop"}, headers=headers).raise_for_status()
    base = f"{url}/api/v1/projects/shop/prompts"
    httpx.post(base, json={"name": "bot", "type": "chat"}, headers=headers).raise_for_status()
    for name in ("fake-refuse", "fake-obey", "fake-slow"):
        httpx.post(
            f"{base}/bot/versions",
            json={
                "template": [{"role": "system", "content": "You help shoppers."}],
                "config": {"model": {"provider": "openai", "name": name, "version": "1"}},
            },
            headers=headers,
        ).raise_for_status()
    try:
        yield url, admin_key
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def cli(server: tuple[str, str], *args: str) -> Result:
    environ: dict[str, str | None] = dict.fromkeys(ENV_NAMES)
    environ.update(
        PROMPTSTAGE_URL=server[0],
        PROMPTSTAGE_API_KEY=server[1],
        PROMPTSTAGE_PROJECT="shop",
        COLUMNS="200",
        NO_COLOR="1",
    )
    result = CliRunner().invoke(app, list(args), env=environ)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


def test_suites_push_list_show(server: tuple[str, str], tmp_path: Path) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text(SUITE)
    first = cli(server, "eval", "suite", "push", str(path))
    assert first.exit_code == 0 and "smoke version 1 (2 cases" in first.stdout
    again = cli(server, "eval", "suite", "push", str(path))
    assert again.stdout.startswith("unchanged: smoke version 1")
    listed = cli(server, "eval", "suite", "list")
    assert "builtin/security" in listed.stdout and "built-in" in listed.stdout
    assert "smoke" in listed.stdout
    shown = json.loads(cli(server, "--json", "eval", "suite", "show", "smoke").stdout)
    assert [c["id"] for c in shown["body"]["cases"]] == ["ask", "greet"]
    table = cli(server, "eval", "suite", "show", "builtin/security").stdout
    assert "jailbreak" in table
    missing = cli(server, "eval", "suite", "show", "nope")
    assert missing.exit_code != 0 and "does not exist" in missing.stderr


def _run(server: tuple[str, str], version: int, *extra: str) -> tuple[int, Any]:
    result = cli(
        server, "--json", "eval", "run", "smoke", "--prompt", "bot", "--version", str(version),
        "--poll", "0.1", *extra,
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def test_a_run_waits_to_its_end_and_exits_by_its_result(
    server: tuple[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text(SUITE)
    cli(server, "eval", "suite", "push", str(path))
    code, passed = _run(server, 1)
    assert (code, passed["status"], passed["progress"]) == (0, "passed", {"done": 2, "total": 2})
    code, failed = _run(server, 2)
    assert (code, failed["status"]) == (3, "failed")
    summary = cli(
        server, "eval", "run", "smoke", "--prompt", "bot", "--version", "2", "--poll", "0.1"
    )
    assert summary.exit_code == 3
    assert "status" in summary.stdout and "failed" in summary.stdout
    assert "cases that did not pass" in summary.stdout and "refusal" in summary.stdout
    listed = cli(server, "eval", "runs", "--suite", "smoke").stdout
    assert passed["id"] in listed and failed["id"] in listed


def test_a_slow_run_can_be_cancelled(server: tuple[str, str], tmp_path: Path) -> None:
    path = tmp_path / "smoke.yaml"
    path.write_text(SUITE)
    cli(server, "eval", "suite", "push", str(path))
    started = cli(server, "eval", "run", "smoke", "--prompt", "bot", "--version", "3", "--no-wait")
    run_id = started.stdout.strip()
    assert run_id.startswith("run_")
    cancelled = cli(server, "eval", "cancel", run_id)
    assert cancelled.stdout.strip() == f"{run_id}: cancelled"
    again = cli(server, "eval", "cancel", run_id)
    assert again.exit_code != 0 and "only a queued or running run" in again.stderr
    resumed = cli(server, "eval", "resume", run_id)
    assert resumed.exit_code != 0 and "only an interrupted run" in resumed.stderr
