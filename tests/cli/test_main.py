"""Global options, their environment variables, and the errors every command shares."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from typer.testing import CliRunner

from promptstage.cli.main import app
from support.http import serving

from .conftest import CliRun, LiveServer


def test_import_loads_no_server_library() -> None:
    code = (
        "import sys, promptstage.cli.main\n"
        "heavy = ('fastapi', 'starlette', 'sqlalchemy', 'uvicorn', 'alembic', 'pydantic', 'jinja2')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_lists_every_group() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for group in ("serve", "db", "project", "key", "prompt", "label", "audit", "resolve"):
        assert group in result.stdout
    for variable in ("PROMPTSTAGE_URL", "PROMPTSTAGE_API_KEY", "PROMPTSTAGE_PROJECT"):
        assert variable in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("promptstage ")


def test_missing_api_key_names_the_variable(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_API_KEY": None})
    assert result.exit_code == 1
    assert "PROMPTSTAGE_API_KEY" in result.stderr and "--api-key" in result.stderr


def test_missing_project_names_the_variable(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_PROJECT": None})
    assert result.exit_code == 1
    assert "PROMPTSTAGE_PROJECT" in result.stderr and "--project" in result.stderr


def test_empty_env_counts_as_unset(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_PROJECT": ""})
    assert result.exit_code == 1
    assert "PROMPTSTAGE_PROJECT" in result.stderr


def test_flags_override_env(cli: CliRun, live_server: LiveServer, project: str) -> None:
    env = {
        "PROMPTSTAGE_URL": "http://127.0.0.1:9",
        "PROMPTSTAGE_API_KEY": "ps_000000000000_bad",
        "PROMPTSTAGE_PROJECT": "nope",
    }
    result = cli(
        "--url",
        live_server.url,
        "--api-key",
        live_server.admin_key,
        "-p",
        project,
        "--json",
        "prompt",
        "list",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"items": [], "next_cursor": None}


def test_json_from_env(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_JSON": "1"})
    assert json.loads(result.stdout)["items"] == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_server_down_exits_2_with_a_hint(cli: CliRun) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = cli("prompt", "list", env={"PROMPTSTAGE_URL": url})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: cannot reach the server at {url}: is `promptstage serve` running?"
    )


def test_bad_url_exits_2(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_URL": "ftp://example.invalid"})
    assert result.exit_code == 2
    assert "PROMPTSTAGE_URL" in result.stderr


def test_wrong_api_key_is_a_clean_401(cli: CliRun) -> None:
    result = cli("prompt", "list", env={"PROMPTSTAGE_API_KEY": "ps_0123456789ab_" + "0" * 64})
    assert result.exit_code == 1
    assert "[unauthenticated]" in result.stderr
    assert "PROMPTSTAGE_API_KEY" in result.stderr


class _Html(BaseHTTPRequestHandler):
    """Answers like a web server that is not promptstage: HTML, 200 or 502."""

    def do_GET(self) -> None:
        status = 502 if "bad" in self.path else 200
        body = b"<html><body>Bad   gateway</body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[str]:
    with serving(_Html) as url:
        yield url


def test_not_a_promptstage_server(cli: CliRun, html_server: str) -> None:
    result = cli("project", "list", env={"PROMPTSTAGE_URL": html_server})
    assert result.exit_code == 1
    assert "not JSON" in result.stderr and "--url" in result.stderr
    failing = cli("prompt", "list", env={"PROMPTSTAGE_URL": html_server + "/bad"})
    assert failing.exit_code == 1
    assert (
        failing.stderr.strip()
        == "error: the server answered HTTP 502: <html><body>Bad gateway</body></html>"
    )
