"""The README's quickstart works as written, against a real `promptstage serve --demo` process."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quickstart_script() -> str:
    """Every ```sh block of the README's CLI and API quickstart, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart: the CLI and the API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert blocks, "the README quickstart has no ```sh blocks"
    return "\n".join(blocks)


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`promptstage serve --demo` in a working directory laid out like a fresh clone."""
    work = tmp_path / "clone"
    (work / ".promptstage").mkdir(parents=True)
    (work / ".venv").symlink_to(BIN.parent)
    key = f"ps_{secrets.token_hex(6)}_{secrets.token_hex(32)}"
    (work / ".promptstage" / "dev-admin-key").write_text(key + "\n")
    port = _free_port()
    env = {**os.environ, "PROMPTSTAGE_ADMIN_KEY": key}
    server = subprocess.Popen(
        [
            str(BIN / "promptstage"),
            "serve",
            "--demo",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{work}/.promptstage/promptstage.db",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, "server did not start within 30 s"
            time.sleep(0.1)
        yield port, work
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
        assert key not in out, "serve must not print a key it was given"
        assert f"ps_{key.split('_')[1]}_… (prefix only)" in out, "serve names the key it uses"


def test_readme_quickstart_runs_as_written(demo_server: tuple[int, Path]) -> None:
    port, work = demo_server
    script = quickstart_script().replace("127.0.0.1:8700", f"127.0.0.1:{port}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("PROMPTSTAGE_")},
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "booking.system" in result.stdout
    assert '"rendered"' in result.stdout  # the curl resolve with render=1
    key = (work / ".promptstage" / "dev-admin-key").read_text().strip()
    labels = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/projects/clinic/prompts/booking.system",
        headers={"Authorization": f"Bearer {key}"},
    ).json()["labels"]
    assert labels["prod"] == 2  # shipped 3 with curl, then rolled back
